"""What a use case works with, assembled in exactly one place (:mod:`bridge.application`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient
from bridge.adapters.mail import MailRenderer, Outbox
from bridge.adapters.store import Store
from bridge.clock import Clock
from bridge.config import Settings
from bridge.domain.calendar import today_in


@dataclass(frozen=True)
class Deps:
    """The adapters, settings and clock of one app, as :class:`bridge.application.Bridge` assembles them."""

    settings: Settings
    fabman: FabmanClient
    codec: CmUserIdCodec
    store: Store
    renderer: MailRenderer
    outbox: Outbox
    clock: Clock

    def today(self) -> dt.date:
        """Today in the FabLab's time zone, by this app's clock."""
        return today_in(self.settings.tz, self.clock.now())

    def now(self) -> dt.datetime:
        """The current moment (UTC), by this app's clock."""
        return self.clock.now()
