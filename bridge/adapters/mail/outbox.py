"""Sending what the outbox holds: claim due messages under a lease, hand each to its channel's transport.

Nothing is sent directly: a use case queues its messages in the same
transaction that records what happened, and the outbox sender
(:class:`bridge.background.OutboxSender`, the only caller of this module's
sending in the bridge) claims and sends them. So a mail is never lost when
SMTP or Discord is down; it is sent once they are back. A failed send stays
pending with backoff until it is older than the maximum age, then dies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Protocol

from bridge.adapters.store import Store
from bridge.adapters.store.models import OutboxMessage
from bridge.domain.statuses import Channel, MessageStatus

log = logging.getLogger(__name__)

_JITTER = random.Random()  # noqa: S311 - jitter only
"""Its own generator: background threads never touch the global `random` state others seed and watch."""

FORGOTTEN_WHEN_HANDLED = frozenset({Channel.STAFF_SIGN_IN})
"""Channels whose rows are dropped once handled: a sign-in request names whatever address was typed in."""


class Transport(Protocol):
    """A way out for a message."""

    def send(self, message: OutboxMessage) -> None:
        """Deliver it or raise."""
        ...


@dataclass(frozen=True)
class FlushReport:
    """What a round of sending did: messages sent, failed (still pending) and given up (dead)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0

    def plus(self, status: MessageStatus) -> FlushReport:
        """This report with one more message that ended `status` (`pending`: failed, tried again later)."""
        if status == MessageStatus.SENT:
            return dataclasses.replace(self, sent=self.sent + 1)
        if status == MessageStatus.DEAD:
            return dataclasses.replace(self, dead=self.dead + 1)
        return dataclasses.replace(self, failed=self.failed + 1)


class Outbox:
    """Sends due messages through their channel's transport, under a lease so two senders never share one."""

    def __init__(
        self,
        store: Store,
        transports: dict[Channel, Transport],
        *,
        max_age_hours: float = 48.0,
        lease_seconds: float = 120.0,
        retry_base_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.transports = transports
        self.max_age = dt.timedelta(hours=max_age_hours)
        self.lease_seconds = lease_seconds
        self.retry_base_seconds = retry_base_seconds

    def claim(self, limit: int, *, ids: list[int] | None = None) -> list[OutboxMessage]:
        """Lease up to `limit` due messages (all due, or only `ids`) to this sender for LEASE_SECONDS, oldest first."""
        return self.store.outbox.claim(self.lease_seconds, limit=limit, ids=ids)

    def send(self, message: OutboxMessage) -> MessageStatus:
        """Send one claimed message: `sent`, `pending` (failed; tried again after its backoff) or `dead` (too old)."""
        try:
            self.transports[Channel(message.channel)].send(message)
        except Exception as exc:  # noqa: BLE001 - any transport failure keeps the message queued
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "%s message %s not sent (attempt %d): %s", message.channel, message.id, message.attempts, type(exc).__name__
            )
            if self.store.now() - message.created_at > self.max_age:
                self.store.outbox.mark_dead(message.id, error)
                return MessageStatus.DEAD
            self.store.outbox.postpone(message.id, error, self.store.now() + self._backoff(message.attempts))
            return MessageStatus.PENDING
        if message.channel in FORGOTTEN_WHEN_HANDLED:
            self.store.outbox.forget(message.id)
        else:
            self.store.outbox.mark_sent(message.id)
        return MessageStatus.SENT

    def flush(self, *, limit: int = 100, ids: list[int] | None = None) -> FlushReport:
        """Claim what is due now and send it; failures stay queued with backoff, dead once older than the maximum age."""
        report = FlushReport()
        for message in self.claim(limit, ids=ids):
            report = report.plus(self.send(message))
        return report

    def _backoff(self, attempts: int) -> dt.timedelta:
        delay = min(3600.0, self.retry_base_seconds * 2 ** max(attempts - 1, 0)) * (0.5 + _JITTER.random())
        return dt.timedelta(seconds=delay)
