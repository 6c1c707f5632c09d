"""Sending what the outbox holds.

Nothing is sent directly: a use case queues its messages in the same
transaction that records what happened, and :meth:`Outbox.flush` sends what is
due (right after the commit, and again from the retry job). So a mail is never
lost when SMTP or Discord is down; it is sent once they are back. A failed send
stays pending with backoff until it is older than the maximum age, then dies.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Protocol

from bridge.adapters.store import Store
from bridge.adapters.store.models import OutboxMessage
from bridge.domain.statuses import Channel

log = logging.getLogger(__name__)

FORGOTTEN_WHEN_HANDLED = frozenset({Channel.STAFF_SIGN_IN})
"""Channels whose rows are dropped once handled: a sign-in request names whatever address was typed in."""


class Transport(Protocol):
    """A way out for a message."""

    def send(self, message: OutboxMessage) -> None:
        """Deliver it or raise."""
        ...


@dataclass(frozen=True)
class FlushReport:
    """What one flush did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


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

    def flush(self, *, limit: int = 100, ids: list[int] | None = None) -> FlushReport:
        """Send what is due now; failures stay queued with backoff, dead once older than the maximum age."""
        sent = failed = dead = 0
        for message in self.store.claim_messages(self.lease_seconds, limit=limit, ids=ids):
            try:
                self.transports[Channel(message.channel)].send(message)
            except Exception as exc:  # noqa: BLE001 - any transport failure keeps the message queued
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s message %s not sent (attempt %d): %s", message.channel, message.id, message.attempts, type(exc).__name__
                )
                if self.store.now() - message.created_at > self.max_age:
                    self.store.mark_message_dead(message.id, error)
                    dead += 1
                else:
                    self.store.postpone_message(message.id, error, self.store.now() + self._backoff(message.attempts))
                    failed += 1
            else:
                if message.channel in FORGOTTEN_WHEN_HANDLED:
                    self.store.forget_message(message.id)
                else:
                    self.store.mark_sent(message.id)
                sent += 1
        return FlushReport(sent=sent, failed=failed, dead=dead)

    def _backoff(self, attempts: int) -> dt.timedelta:
        delay = min(3600.0, self.retry_base_seconds * 2 ** max(attempts - 1, 0)) * (0.5 + random.random())  # noqa: S311
        return dt.timedelta(seconds=delay)
