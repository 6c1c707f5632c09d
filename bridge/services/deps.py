"""What a use case works with, assembled in exactly one place (:mod:`bridge.application`)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient
from bridge.adapters.mail import FlushReport, MailRenderer
from bridge.adapters.store import Store
from bridge.clock import Clock
from bridge.config import Settings
from bridge.domain.calendar import today_in


class MailSender(Protocol):
    """The outbox's one sender (:class:`bridge.background.OutboxSender`) as use cases see it: they queue, it sends."""

    def wake(self) -> None:
        """Messages were just committed to the outbox: send them soon, on the sender's thread (returns at once)."""
        ...

    def send_due(self) -> FlushReport:
        """Send everything due now and wait for it (only the jobs that report mail sent: retry, reconciliation)."""
        ...


@dataclass(frozen=True)
class Deps:
    """The adapters, settings and clock of one app, as :class:`bridge.application.Bridge` assembles them."""

    settings: Settings
    fabman: FabmanClient
    codec: CmUserIdCodec
    store: Store
    renderer: MailRenderer
    sender: MailSender
    clock: Clock
    side_reads: Executor
    """Threads for a Fabman read made beside another (a result's course while its member is read)."""

    def today(self) -> dt.date:
        """Today in the FabLab's time zone, by this app's clock."""
        return today_in(self.settings.tz, self.clock.now())

    def now(self) -> dt.datetime:
        """The current moment (UTC), by this app's clock."""
        return self.clock.now()
