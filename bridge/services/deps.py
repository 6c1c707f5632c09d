"""What a use case works with, assembled in exactly one place (:mod:`bridge.application`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient, FabmanTimeout
from bridge.adapters.mail import MailRenderer, Outbox
from bridge.adapters.store import Store
from bridge.clock import Clock
from bridge.config import Settings
from bridge.domain.calendar import today_in


@dataclass(frozen=True)
class Deps:
    """The adapters, settings and clock of one app.

    `fabman` is the client whose policy fits the use case (see
    :class:`bridge.application.Bridge`). `deadline` (a `time.monotonic()`
    value) stops a webhook from starting another Fabman write once its budget
    is spent: the event stays queued for the retry job.
    """

    settings: Settings
    fabman: FabmanClient
    codec: CmUserIdCodec
    store: Store
    renderer: MailRenderer
    outbox: Outbox
    clock: Clock
    deadline: float | None = None

    def today(self) -> dt.date:
        """Today in the FabLab's time zone, by this app's clock."""
        return today_in(self.settings.tz, self.clock.now())

    def now(self) -> dt.datetime:
        """The current moment (UTC), by this app's clock."""
        return self.clock.now()

    def with_budget(self, seconds: float) -> Deps:
        """The same, but giving up on further Fabman writes `seconds` from now."""
        return dataclasses.replace(self, deadline=time.monotonic() + seconds)

    def within_budget(self) -> None:
        """Before a write: give up for now (the event stays queued) once the budget is spent."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise FabmanTimeout("Fabman is slow: the webhook's time budget is spent; the retry job continues")
