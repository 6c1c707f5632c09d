"""The outbox (`store.outbox`): member mail and staff alerts waiting to be sent, as a state machine.

pending -> sent | dead, one transaction per transition. A message is queued
within the transaction that decides it (another part calls :meth:`OutboxStore.add`
with its own session), so what a result or a sweep decided is never recorded
without its mail, nor its mail without it. The sender leases due messages
with one UPDATE whose conditions are checked again on every row it takes, so
two senders never send the same message. The statements every message runs
through are built once, as SQLAlchemy Core with bound parameters, so each is
compiled once per engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Executable, Integer, String, Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from bridge.adapters.store.database import ERROR_LENGTH, Database, at_param, loaded, not_leased
from bridge.adapters.store.models import OutboxMessage
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import MessageStatus

OUTBOX = cast("Table", OutboxMessage.__table__)


def _claim_messages(*, only_ids: bool) -> Any:
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.status == MessageStatus.PENDING,
            OUTBOX.c.next_attempt_at.is_(None) | (OUTBOX.c.next_attempt_at <= at_param("now")),
            not_leased(OUTBOX.c.lease_until, at_param("now")),
        )
        .order_by(OUTBOX.c.id)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)  # PostgreSQL: concurrent senders take different rows, never deadlock
    )
    if only_ids:
        due = due.where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    return (
        update(OUTBOX)
        .where(
            OUTBOX.c.id.in_(due.scalar_subquery()),
            OUTBOX.c.status == MessageStatus.PENDING,
            not_leased(OUTBOX.c.lease_until, at_param("now")),
        )
        .values(lease_until=at_param("lease_end"), attempts=OUTBOX.c.attempts + 1)
        .returning(*OUTBOX.columns)
    )


CLAIM_MESSAGES = _claim_messages(only_ids=False)
"""Lease the oldest due pending messages; their rows.

The outer conditions are checked again on every row the UPDATE takes, so of
two senders claiming at once each message goes to one of them. Parameters:
now, limit, lease_end.
"""

CLAIM_MESSAGES_AMONG = _claim_messages(only_ids=True)
"""As :data:`CLAIM_MESSAGES`, only among `ids`. Parameters: now, limit, lease_end, ids."""

_MESSAGE = OUTBOX.c.id == bindparam("message_id", type_=Integer())

MARK_SENT = (
    update(OUTBOX).where(_MESSAGE).values(status=MessageStatus.SENT, sent_at=at_param("now"), last_error=None, lease_until=None)
)
"""pending -> sent. Parameters: message_id, now."""

POSTPONE_MESSAGE = (
    update(OUTBOX)
    .where(_MESSAGE)
    .values(
        status=MessageStatus.PENDING,
        last_error=bindparam("error", type_=String()),
        next_attempt_at=at_param("retry_at"),
        lease_until=None,
    )
)
"""Stay pending; due again at retry_at. Parameters: message_id, error, retry_at."""

MESSAGE_DEAD = (
    update(OUTBOX)
    .where(_MESSAGE)
    .values(status=MessageStatus.DEAD, last_error=bindparam("error", type_=String()), next_attempt_at=None, lease_until=None)
)
"""pending -> dead. Parameters: message_id, error."""


def _pending(message: OutgoingMessage, now: dt.datetime) -> dict[str, Any]:
    """The outbox row of a message queued now."""
    return {
        "dedupe_key": message.dedupe_key,
        "channel": message.channel,
        "recipient": message.recipient,
        "subject": message.subject,
        "body_text": message.body_text,
        "body_html": message.body_html,
        "member_id": message.member_id,
        "event_id": message.event_id,
        "status": MessageStatus.PENDING,
        "attempts": 0,
        "created_at": now,
    }


class OutboxStore:
    """Queueing, leasing and finishing messages, and reading the outbox."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, session: Session, messages: Iterable[OutgoingMessage], now: dt.datetime) -> int:
        """Queue messages within the caller's transaction; how many were new (a known dedupe key is skipped)."""
        return sum(self._db.insert_ignore(session, OutboxMessage, _pending(message, now)) for message in messages)

    def put(self, session: Session, message: OutgoingMessage, now: dt.datetime) -> int:
        """Queue one message within the caller's transaction; its id (a known dedupe key raises)."""
        queued = OutboxMessage(**_pending(message, now))
        session.add(queued)
        session.flush()
        return queued.id

    def queue(self, messages: Iterable[OutgoingMessage]) -> int:
        """Queue messages in one transaction; how many were new (a known dedupe key is skipped)."""
        with self._db.write() as session:
            return self.add(session, messages, self._db.now())

    def queued_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these dedupe keys the outbox already holds (sent or not)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        with self._db.read() as session:
            return set(session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(wanted))))

    def claim(self, lease_seconds: float, *, limit: int = 50, ids: list[int] | None = None) -> list[OutboxMessage]:
        """Lease due pending messages to this sender (all due, or only `ids`), oldest first, in one statement.

        The outer conditions are checked again on every row the UPDATE takes,
        so of two senders claiming at once each message goes to one of them.
        """
        now = self._db.now()
        claim = {"now": now, "limit": limit, "lease_end": now + dt.timedelta(seconds=lease_seconds)}
        with self._db.write() as session:
            if ids is None:
                rows = session.execute(CLAIM_MESSAGES, claim).all()
            else:
                rows = session.execute(CLAIM_MESSAGES_AMONG, {**claim, "ids": ids}).all()
        return sorted((loaded(OutboxMessage, row) for row in rows), key=lambda message: message.id)

    def mark_sent(self, message_id: int) -> None:
        """pending -> sent."""
        self._finish(MARK_SENT, {"message_id": message_id, "now": self._db.now()})

    def postpone(self, message_id: int, error: str, retry_at: dt.datetime) -> None:
        """Stay pending after a failed send; try again at `retry_at`."""
        self._finish(POSTPONE_MESSAGE, {"message_id": message_id, "error": error[:ERROR_LENGTH], "retry_at": retry_at})

    def mark_dead(self, message_id: int, error: str) -> None:
        """pending -> dead: too old to keep trying."""
        self._finish(MESSAGE_DEAD, {"message_id": message_id, "error": error[:ERROR_LENGTH]})

    def _finish(self, statement: Executable, parameters: dict[str, Any]) -> None:
        with self._db.write() as session:
            session.execute(statement, parameters)

    def forget(self, message_id: int) -> None:
        """Drop an outbox row for good (a handled sign-in request: its address is nobody's business afterwards)."""
        with self._db.write() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.id == message_id))

    def messages(
        self, *, status: MessageStatus | None = None, member_id: int | None = None, limit: int = 500
    ) -> list[OutboxMessage]:
        """Outbox rows, newest first."""
        with self._db.read() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if status:
                query = query.where(OutboxMessage.status == status)
            if member_id is not None:
                query = query.where(OutboxMessage.member_id == member_id)
            return list(session.scalars(query))

    def counts(self) -> dict[str, int]:
        """Outbox rows per status."""
        return self._db.count_by(OutboxMessage.status)
