"""The statements every result runs through, built once as SQLAlchemy Core with bound parameters.

Storing a result, claiming it, recording what became of it and sending its
mail run for every result a worker takes. Built per call through the ORM,
each statement cost more of a worker's CPU than running it (building the
clauses, the ORM's bulk-update bookkeeping); built once here and executed
with parameters, SQLAlchemy finds each compiled in its cache. Rows come back
as rows; :func:`loaded` turns one into the model the store's callers read.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Integer, Row, String, Table, and_, bindparam, exists, func, select, update
from sqlalchemy.sql.elements import BindParameter

from bridge.adapters.store.database import not_leased
from bridge.adapters.store.models import Base, InboxEvent, OutboxMessage, UtcDateTime
from bridge.domain.statuses import EventStatus, MessageStatus

Model = TypeVar("Model", bound=Base)

INBOX = cast("Table", InboxEvent.__table__)
OUTBOX = cast("Table", OutboxMessage.__table__)


def _at(name: str) -> BindParameter[Any]:
    """A timestamp parameter (stored in UTC, as every timestamp column)."""
    return bindparam(name, type_=UtcDateTime())


def loaded(model: type[Model], row: Row[Any]) -> Model:
    """A row of every column of `model`'s table, as the model (not attached to any session)."""
    return model(**row._mapping)


_HELD = INBOX.alias("held")


def member_busy(member: Any) -> Any:
    """Another result of this member is being applied (a live lease): its metadata's lockVersion is in use."""
    return exists().where(_HELD.c.member_id == member, _HELD.c.status == EventStatus.QUEUED, _HELD.c.lease_until >= _at("now"))


EVENT_BY_KEY = select(INBOX).where(INBOX.c.result_key == bindparam("result_key", type_=String()))
"""The inbox row of a result key. Parameters: result_key."""

CLAIM_EVENT = (
    update(INBOX)
    .where(
        INBOX.c.id == bindparam("event_id", type_=Integer()),
        INBOX.c.status.in_(bindparam("statuses", expanding=True)),
        not_leased(INBOX.c.lease_until, _at("now")),
        ~member_busy(INBOX.c.member_id),
    )
    .values(lease_until=_at("lease_end"), attempts=INBOX.c.attempts + 1, updated_at=_at("now"))
    .returning(*INBOX.columns)
)
"""Lease an event in one of `statuses` that no live lease holds, unless another result of its member is in
flight; its row, or none.

Parameters: event_id, statuses, now, lease_end.
"""

MARK_APPLIED = (
    update(INBOX)
    .where(INBOX.c.id == bindparam("event_id", type_=Integer()))
    .values(
        status=EventStatus.APPLIED,
        outcome=bindparam("outcome", type_=String()),
        lease_until=None,
        last_error=None,
        next_attempt_at=None,
        updated_at=_at("now"),
    )
)
"""queued -> applied. Parameters: event_id, outcome, now."""


def _claim_messages(*, only_ids: bool) -> Any:
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.status == MessageStatus.PENDING,
            OUTBOX.c.next_attempt_at.is_(None) | (OUTBOX.c.next_attempt_at <= _at("now")),
            not_leased(OUTBOX.c.lease_until, _at("now")),
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
            not_leased(OUTBOX.c.lease_until, _at("now")),
        )
        .values(lease_until=_at("lease_end"), attempts=OUTBOX.c.attempts + 1)
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
    update(OUTBOX).where(_MESSAGE).values(status=MessageStatus.SENT, sent_at=_at("now"), last_error=None, lease_until=None)
)
"""pending -> sent. Parameters: message_id, now."""

POSTPONE_MESSAGE = (
    update(OUTBOX)
    .where(_MESSAGE)
    .values(
        status=MessageStatus.PENDING,
        last_error=bindparam("error", type_=String()),
        next_attempt_at=_at("retry_at"),
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


# -- the inbox as a work queue ---------------------------------------------------

_DUE = and_(
    INBOX.c.status == EventStatus.QUEUED,
    INBOX.c.next_attempt_at.is_(None) | (INBOX.c.next_attempt_at <= _at("now")),
    not_leased(INBOX.c.lease_until, _at("now")),
)
"""Queued, due by its backoff, and held by no live lease. Parameters: now."""


def _claim_due(*, fresh_only: bool) -> Any:
    pick = (
        select(func.min(INBOX.c.id))
        .where(_DUE, ~member_busy(INBOX.c.member_id), INBOX.c.id.not_in(bindparam("exclude", expanding=True)))
        .group_by(func.coalesce(INBOX.c.member_id, -INBOX.c.id))
        .order_by(func.min(INBOX.c.id))
        .limit(bindparam("limit", type_=Integer()))
    )
    if fresh_only:
        pick = pick.where(INBOX.c.attempts == 0)
    return (
        update(INBOX)
        .where(INBOX.c.id.in_(pick.scalar_subquery()), _DUE)
        .values(lease_until=_at("lease_end"), attempts=INBOX.c.attempts + 1, updated_at=_at("now"))
        .returning(*INBOX.columns)
    )


CLAIM_DUE = _claim_due(fresh_only=False)
"""SQLite: lease the oldest due event of up to `limit` members none of whose results is in flight; their rows.

One statement in SQLite's one writing transaction at a time, so no two
claimers can both find a member free. Parameters: now, lease_end, limit, exclude.
"""

CLAIM_DUE_FRESH = _claim_due(fresh_only=True)
"""As :data:`CLAIM_DUE`, only among results never tried (a backlog, not a retry). Same parameters."""

DUE_CANDIDATES = (
    select(INBOX.c.id, INBOX.c.member_id, INBOX.c.attempts)
    .where(_DUE, INBOX.c.id.not_in(bindparam("exclude", expanding=True)))
    .order_by(INBOX.c.id)
    .limit(bindparam("limit", type_=Integer()))
    .with_for_update(skip_locked=True)
)
"""PostgreSQL: due events no other claimer is looking at (`FOR UPDATE SKIP LOCKED`). Parameters: now, limit, exclude."""

BUSY_MEMBERS = (
    select(INBOX.c.member_id)
    .distinct()
    .where(
        INBOX.c.member_id.in_(bindparam("members", expanding=True)),
        INBOX.c.status == EventStatus.QUEUED,
        INBOX.c.lease_until >= _at("now"),
    )
)
"""Which of `members` have a result in flight. Parameters: members, now."""

LEASE_EVENTS = (
    update(INBOX)
    .where(INBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(lease_until=_at("lease_end"), attempts=INBOX.c.attempts + 1, updated_at=_at("now"))
    .returning(*INBOX.columns)
)
"""Lease rows this claimer has locked and chosen. Parameters: ids, now, lease_end."""

ANY_DUE = select(INBOX.c.id).where(_DUE).limit(1)
"""Whether anything is due (a cheap read before a claiming write). Parameters: now."""

RELEASE_EVENTS = (
    update(INBOX)
    .where(INBOX.c.id.in_(bindparam("ids", expanding=True)), INBOX.c.status == EventStatus.QUEUED)
    .values(lease_until=None, updated_at=_at("now"))
)
"""Give leased events back untouched, due at once. Parameters: ids, now."""

EVENT_STATES = select(INBOX.c.id, INBOX.c.status, INBOX.c.attempts, INBOX.c.lease_until).where(
    INBOX.c.id.in_(bindparam("ids", expanding=True))
)
"""Where some events stand now (the retry job waits on these). Parameters: ids."""
