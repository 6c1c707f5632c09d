"""The inbox (`store.inbox`): every result received, as a work queue and a state machine.

A result is stored once by its key (:meth:`InboxStore.receive`), leased by a
worker (`claim`, `claim_due`), and closed by one transition: queued ->
applied (with its ledger row, its evidence leaf and its mail, in one
transaction), rejected, error or dead; or it stays queued (`defer`,
`release`). No transaction is held open across a call to Fabman.

Storing a result, claiming it, recording what became of it and sending its
mail run for every result a worker takes. Built per call through the ORM,
each statement cost more of a worker's CPU than running it (building the
clauses, the ORM's bulk-update bookkeeping); built once here and executed
with parameters, SQLAlchemy finds each compiled in its cache. Rows come back
as rows; :func:`~bridge.adapters.store.database.loaded` turns one into the
model the store's callers read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Integer, String, Table, and_, bindparam, exists, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bridge.adapters.store.database import ERROR_LENGTH, Database, at_param, changed, loaded, not_leased
from bridge.adapters.store.evidence import COUNTED_FAILURES, EvidenceStore
from bridge.adapters.store.ledger import Grant, LedgerStore
from bridge.adapters.store.listening import InboxListener
from bridge.adapters.store.models import InboxEvent
from bridge.adapters.store.outbox import OutboxStore
from bridge.domain.evidence import EvidenceEvent
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import REPLAYABLE, EventSource, EventStatus

INBOX_CHANNEL = "fablab_bridge_inbox"
"""The PostgreSQL channel on which a stored or released result wakes every instance's appliers."""
_MEMBER_LOCK_BASE = 1 << 53
"""Advisory lock keys of members: above every Fabman id (< 2^53) and apart from the migration lock."""
_LOCK_MEMBERS = text(
    "SELECT m FROM unnest(CAST(:members AS BIGINT[])) AS m WHERE pg_try_advisory_xact_lock(CAST(:base AS BIGINT) + m)"
)
_NOTIFY = text("SELECT pg_notify(:channel, '')")

INBOX = cast("Table", InboxEvent.__table__)


_HELD = INBOX.alias("held")


def member_busy(member: Any) -> Any:
    """Another result of this member is being applied (a live lease): its metadata's lockVersion is in use."""
    return exists().where(
        _HELD.c.member_id == member, _HELD.c.status == EventStatus.QUEUED, _HELD.c.lease_until >= at_param("now")
    )


EVENT_BY_KEY = select(INBOX).where(INBOX.c.result_key == bindparam("result_key", type_=String()))
"""The inbox row of a result key. Parameters: result_key."""

CLAIM_EVENT = (
    update(INBOX)
    .where(
        INBOX.c.id == bindparam("event_id", type_=Integer()),
        INBOX.c.status.in_(bindparam("statuses", expanding=True)),
        not_leased(INBOX.c.lease_until, at_param("now")),
        ~member_busy(INBOX.c.member_id),
    )
    .values(lease_until=at_param("lease_end"), attempts=INBOX.c.attempts + 1, updated_at=at_param("now"))
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
        updated_at=at_param("now"),
    )
)
"""queued -> applied. Parameters: event_id, outcome, now."""


# -- the inbox as a work queue ---------------------------------------------------

_DUE = and_(
    INBOX.c.status == EventStatus.QUEUED,
    INBOX.c.next_attempt_at.is_(None) | (INBOX.c.next_attempt_at <= at_param("now")),
    not_leased(INBOX.c.lease_until, at_param("now")),
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
        .values(lease_until=at_param("lease_end"), attempts=INBOX.c.attempts + 1, updated_at=at_param("now"))
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
        INBOX.c.lease_until >= at_param("now"),
    )
)
"""Which of `members` have a result in flight. Parameters: members, now."""

LEASE_EVENTS = (
    update(INBOX)
    .where(INBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(lease_until=at_param("lease_end"), attempts=INBOX.c.attempts + 1, updated_at=at_param("now"))
    .returning(*INBOX.columns)
)
"""Lease rows this claimer has locked and chosen. Parameters: ids, now, lease_end."""

ANY_DUE = select(INBOX.c.id).where(_DUE).limit(1)
"""Whether anything is due (a cheap read before a claiming write). Parameters: now."""

RELEASE_EVENTS = (
    update(INBOX)
    .where(INBOX.c.id.in_(bindparam("ids", expanding=True)), INBOX.c.status == EventStatus.QUEUED)
    .values(lease_until=None, updated_at=at_param("now"))
)
"""Give leased events back untouched, due at once. Parameters: ids, now."""

EVENT_STATES = select(INBOX.c.id, INBOX.c.status, INBOX.c.attempts, INBOX.c.lease_until).where(
    INBOX.c.id.in_(bindparam("ids", expanding=True))
)
"""Where some events stand now (the retry job waits on these). Parameters: ids."""


class InboxStore:
    """Receiving, leasing and closing results, and reading the inbox.

    A transition that also writes the ledger, the evidence log or the outbox
    does so in its own transaction, through those parts' session-taking
    helpers.
    """

    def __init__(self, database: Database, *, outbox: OutboxStore, ledger: LedgerStore, evidence: EvidenceStore) -> None:
        self._db = database
        self._outbox = outbox
        self._ledger = ledger
        self._evidence = evidence

    # -- inbox: receiving and claiming -------------------------------------

    def receive(
        self,
        *,
        result_key: str,
        status: EventStatus,
        passed: bool | None,
        test_name: str | None,
        payload: str,
        member_id: int | None = None,
        course_id: int | None = None,
        claim_seconds: float | None = None,
        source: EventSource = EventSource.WEBHOOK,
        percentage: float | None = None,
        finished_at: dt.datetime | None = None,
    ) -> tuple[InboxEvent, bool]:
        """Store a received result durably once; the row and whether this call stored it.

        With `claim_seconds` a new event is stored already claimed by the
        caller (as :meth:`claim` would), in the same transaction, so the
        worker that answers ClassMarker applies it without a second round trip;
        unless another result of the same member is in flight (the returned
        row then has no lease, and waits in the queue like any other).
        A result stored unclaimed wakes the other instances (PostgreSQL NOTIFY).
        `source` says how the result first reached the bridge (webhook or poll).
        """
        now = self._db.now()
        claim = {} if claim_seconds is None else {"lease_until": now + dt.timedelta(seconds=claim_seconds), "attempts": 1}
        values = {
            "member_id": member_id,
            "course_id": course_id,
            "result_key": result_key,
            "status": status,
            "passed": passed,
            "test_name": test_name,
            "payload": payload,
            "attempts": 0,
            "received_at": now,
            "updated_at": now,
            "source": source,
            "percentage": percentage,
            "finished_at": finished_at,
            **claim,
        }
        with self._db.write() as session:
            if claim and member_id is not None and not self._members_free(session, [member_id], now):
                values = {**values, "lease_until": None, "attempts": 0}  # another result of the member is in flight
            row = self._db.insert_ignore_returning(session, InboxEvent, values)
            created = row is not None
            if row is None:
                row = session.execute(EVENT_BY_KEY, {"result_key": result_key}).one()
            elif status == EventStatus.QUEUED and values.get("lease_until") is None:
                self._notify_inbox(session)
        return loaded(InboxEvent, row), created

    def claim(
        self, event_id: int, lease_seconds: float, *, statuses: Sequence[EventStatus] = (EventStatus.QUEUED,)
    ) -> InboxEvent | None:
        """Take an event for processing unless another worker holds it; None when not claimed."""
        now = self._db.now()
        lease = {"now": now, "lease_end": now + dt.timedelta(seconds=lease_seconds)}
        with self._db.write() as session:
            if not self._db.is_sqlite:
                member_id = session.scalar(select(InboxEvent.member_id).where(InboxEvent.id == event_id))
                if member_id is not None and not self._lock_members(session, [member_id]):
                    return None
            row = session.execute(CLAIM_EVENT, {"event_id": event_id, "statuses": list(statuses), **lease}).first()
        return loaded(InboxEvent, row) if row is not None else None

    def claim_due(
        self, limit: int, lease_seconds: float, *, fresh_only: bool = False, exclude: Sequence[int] = ()
    ) -> list[InboxEvent]:
        """Lease up to `limit` due events, at most one per member and none of a member with a result in flight.

        Results of one member share its metadata's lockVersion, so they are
        applied one after another; different members' in parallel. With
        `fresh_only` only results never tried are taken (a backlog, not a
        retry); `exclude` are events the caller has just tried. On SQLite this
        is one statement in SQLite's single writing transaction; on PostgreSQL
        the candidates are locked with `FOR UPDATE SKIP LOCKED` (two claimers
        never look at the same rows), their members with transaction-scoped
        advisory locks, and only then is it checked, in a statement of its
        own (so it sees every lease committed before the lock was won), that
        no result of those members is in flight.
        """
        if limit <= 0:
            return []
        now = self._db.now()
        lease = {"now": now, "lease_end": now + dt.timedelta(seconds=lease_seconds)}
        excluded = list(exclude)
        with self._db.write() as session:
            if self._db.is_sqlite:
                statement = CLAIM_DUE_FRESH if fresh_only else CLAIM_DUE
                rows = session.execute(statement, {**lease, "limit": limit, "exclude": excluded}).all()
            else:
                rows = self._claim_due_locked(session, limit, lease, fresh_only=fresh_only, exclude=excluded)
        return sorted((loaded(InboxEvent, row) for row in rows), key=lambda event: event.id)

    def _claim_due_locked(
        self, session: Session, limit: int, lease: dict[str, Any], *, fresh_only: bool, exclude: list[int]
    ) -> Sequence[Any]:
        scan = {"now": lease["now"], "limit": max(4 * limit, 16), "exclude": exclude}
        chosen: dict[int | None, int] = {}
        for event_id, member_id, attempts in session.execute(DUE_CANDIDATES, scan):
            if fresh_only and attempts:
                continue
            key = member_id if member_id is not None else -event_id
            chosen.setdefault(key, event_id)
        members = [key for key in chosen if key is not None and key > 0]
        free = self._members_free(session, members, lease["now"]) if members else set()
        ids = [event_id for key, event_id in chosen.items() if key is None or key < 0 or key in free][:limit]
        if not ids:
            return []
        return session.execute(LEASE_EVENTS, {**lease, "ids": ids}).all()

    def _members_free(self, session: Session, members: list[int], now: dt.datetime) -> set[int]:
        """Of `members`, those with no result in flight, held so until this transaction ends (see claim_due)."""
        candidates = members if self._db.is_sqlite else self._lock_members(session, members)
        if not candidates:
            return set()
        busy = set(session.scalars(BUSY_MEMBERS, {"members": candidates, "now": now}))
        return {member for member in candidates if member not in busy}

    def _lock_members(self, session: Session, members: list[int]) -> list[int]:
        """PostgreSQL: win each member's advisory lock for this transaction, without waiting; those won."""
        return list(session.scalars(_LOCK_MEMBERS, {"members": members, "base": _MEMBER_LOCK_BASE}))

    def _notify_inbox(self, session: Session) -> None:
        """PostgreSQL: wake every instance's listener when this transaction commits (SQLite instances poll)."""
        if not self._db.is_sqlite:
            session.execute(_NOTIFY, {"channel": INBOX_CHANNEL})

    def any_due(self) -> bool:
        """Whether any event is due and free (a read, no lock: the poll before a claim)."""
        with self._db.read() as session:
            return session.execute(ANY_DUE, {"now": self._db.now()}).first() is not None

    def release(self, event_ids: Sequence[int]) -> None:
        """Give claimed events back untouched, due at once for any worker (which is woken)."""
        if not event_ids:
            return
        with self._db.write() as session:
            session.execute(RELEASE_EVENTS, {"ids": list(event_ids), "now": self._db.now()})
            self._notify_inbox(session)

    def states(self, event_ids: Sequence[int]) -> dict[int, tuple[str, int, dt.datetime | None]]:
        """(status, attempts, lease end) of each of these events, as they stand now."""
        if not event_ids:
            return {}
        with self._db.read() as session:
            rows = session.execute(EVENT_STATES, {"ids": list(event_ids)}).all()
        return {int(row.id): (str(row.status), int(row.attempts), row.lease_until) for row in rows}

    def listener(self) -> InboxListener | None:
        """A dedicated connection that hears when results are stored or given back (PostgreSQL); None on SQLite."""
        if self._db.is_sqlite:
            return None
        return InboxListener(make_url(self._db.url).set(drivername="postgresql").render_as_string(hide_password=False))

    def note_identity(self, event_id: int, member_id: int, course_id: int) -> None:
        """Remember whose result an event is, once its cm_user_id is decoded."""
        with self._db.write() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(member_id=member_id, course_id=course_id, updated_at=self._db.now())
            )

    # -- inbox: transitions ----------------------------------------------

    def mark_applied(
        self, event_id: int, outcome: str, *, grant: Grant | None = None, messages: Iterable[OutgoingMessage] = ()
    ) -> None:
        """queued -> applied, with its ledger row, its evidence leaf and its mail, in one transaction.

        A grant appends a `granted` leaf, a counted failed attempt a `failed` one (section 16).
        The leaf comes last: taking its index locks the log's one counter row until
        the commit, so every other statement runs before, not while other
        processes' results wait for that row.
        """
        now = self._db.now()
        with self._db.write() as session:
            self._outbox.add(session, messages, now)
            session.execute(MARK_APPLIED, {"event_id": event_id, "outcome": outcome, "now": now})
            if grant is not None:
                self._ledger.add(session, grant.row(now))
                self._evidence.append_result(
                    session, event_id, EvidenceEvent.GRANTED, member_id=grant.member_id, course_id=grant.course_id,
                    fabman_record_id=grant.fabman_record_id, recorded_at=now,
                )  # fmt: skip
            elif outcome in COUNTED_FAILURES:
                self._evidence.append_result(
                    session, event_id, EvidenceEvent.FAILED, member_id=None, course_id=None, fabman_record_id=None,
                    recorded_at=now,
                )  # fmt: skip

    def close(
        self,
        event_id: int,
        status: EventStatus,
        error: str,
        *,
        outcome: str | None = None,
        messages: Iterable[OutgoingMessage] = (),
    ) -> None:
        """queued -> rejected | error | dead, with the alerts and mail that say so, in one transaction."""
        if status not in (EventStatus.REJECTED, EventStatus.ERROR, EventStatus.DEAD):
            raise ValueError(f"an event is not closed as {status}")
        now = self._db.now()
        values: dict[str, Any] = {"status": status, "last_error": error[:ERROR_LENGTH], "lease_until": None, "updated_at": now}
        if outcome is not None:
            values["outcome"] = outcome
        with self._db.write() as session:
            self._outbox.add(session, messages, now)
            session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(**values))

    def defer(self, event_id: int, error: str, retry_at: dt.datetime) -> None:
        """Stay queued: release the lease and try again at `retry_at`."""
        with self._db.write() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(
                    status=EventStatus.QUEUED,
                    last_error=error[:ERROR_LENGTH],
                    next_attempt_at=retry_at,
                    lease_until=None,
                    updated_at=self._db.now(),
                )
            )

    def requeue(
        self, event_id: int, *, statuses: Sequence[EventStatus] = REPLAYABLE, not_before: dt.datetime | None = None
    ) -> bool:
        """Put an event in one of `statuses` back in the queue, due now; False while a worker holds it.

        Its retry age starts again, so a replayed event gets the full RETRY_MAX_AGE_HOURS. With
        `not_before` it is due only then and no other process is told: the caller applies it itself
        at once (a staff replay), and the others take it after `not_before` only if that failed.
        """
        now = self._db.now()
        with self._db.write() as session:
            requeued = changed(
                session,
                update(InboxEvent)
                .where(
                    InboxEvent.id == event_id,
                    InboxEvent.status.in_(statuses),
                    not_leased(InboxEvent.lease_until, now),
                    InboxEvent.payload_purged_at.is_(None),  # its body is gone: nothing left to apply
                )
                .values(status=EventStatus.QUEUED, next_attempt_at=not_before, retry_from=now, updated_at=now),
            )
            if requeued and not_before is None:
                self._notify_inbox(session)
            return bool(requeued)

    # -- inbox: reading ---------------------------------------------------

    def due_ids(self, limit: int = 100) -> list[int]:
        """Queued events whose next attempt is due and that no live lease holds."""
        now = self._db.now()
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(InboxEvent.id)
                    .where(
                        InboxEvent.status == EventStatus.QUEUED,
                        InboxEvent.next_attempt_at.is_(None) | (InboxEvent.next_attempt_at <= now),
                        not_leased(InboxEvent.lease_until, now),
                    )
                    .order_by(InboxEvent.id)
                    .limit(limit)
                )
            )

    def get(self, event_id: int) -> InboxEvent | None:
        """One inbox row."""
        with self._db.read() as session:
            return session.get(InboxEvent, event_id)

    def events(self, *, status: EventStatus | None = None, limit: int = 100) -> list[InboxEvent]:
        """The newest inbox rows, optionally of one status."""
        with self._db.read() as session:
            query = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
            if status:
                query = query.where(InboxEvent.status == status)
            return list(session.scalars(query))

    def counts(self) -> dict[str, int]:
        """Inbox rows per status."""
        return self._db.count_by(InboxEvent.status)

    def keys(self) -> dict[str, str]:
        """Status per result key, every inbox row (reliability checks read the whole inbox)."""
        with self._db.read() as session:
            return {key: status for key, status in session.execute(select(InboxEvent.result_key, InboxEvent.status))}
