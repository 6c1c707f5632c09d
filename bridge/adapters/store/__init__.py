"""The bridge's own store: SQLite by default, PostgreSQL in production.

:class:`Store` owns the two state machines the bridge keeps, the inbox of
received results and the outbox of mail and alerts, and the ledger. Every
transition is one method and one transaction; nothing outside this package
writes SQL. No transaction is ever held open across a call to Fabman or SMTP.
Each further part of the store (jobs, ...) is a mixin over
:class:`~bridge.adapters.store.database.Database` in its own module.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Executable, Table, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bridge.adapters.store import statements
from bridge.adapters.store.console import ConsoleQueries, SignInLimits
from bridge.adapters.store.courses import CourseQueries
from bridge.adapters.store.database import MIGRATIONS, Database, changed, normalise_url, not_leased
from bridge.adapters.store.evidence import COUNTED_FAILURES, EvidenceStore
from bridge.adapters.store.jobs import JobRunRow, JobStore
from bridge.adapters.store.listening import InboxListener
from bridge.adapters.store.models import InboxEvent, LedgerEntry, OutboxMessage
from bridge.adapters.store.privacy import PrivacyQueries
from bridge.adapters.store.reconcile import ReconcileQueries
from bridge.adapters.store.rules import RulesQueries
from bridge.clock import Clock
from bridge.domain.evidence import EvidenceEvent
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import REPLAYABLE, EventSource, EventStatus, MessageStatus

log = logging.getLogger(__name__)

_ERROR_LENGTH = 500
INBOX_CHANNEL = "fablab_bridge_inbox"
"""The PostgreSQL channel on which a stored or released result wakes every instance's appliers."""
_MEMBER_LOCK_BASE = 1 << 53
"""Advisory lock keys of members: above every Fabman id (< 2^53) and apart from the migration lock."""
_LOCK_MEMBERS = text(
    "SELECT m FROM unnest(CAST(:members AS BIGINT[])) AS m WHERE pg_try_advisory_xact_lock(CAST(:base AS BIGINT) + m)"
)
_NOTIFY = text("SELECT pg_notify(:channel, '')")

__all__ = [
    "INBOX_CHANNEL",
    "MIGRATIONS",
    "InboxEvent",
    "InboxListener",
    "JobRunRow",
    "LedgerEntry",
    "OutboxMessage",
    "SignInLimits",
    "Store",
    "normalise_url",
]


class Store(ReconcileQueries, RulesQueries, ConsoleQueries, PrivacyQueries, CourseQueries, Database):
    """The relational store behind the inbox, the outbox, the ledger and the jobs."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        super().__init__(url, clock=clock)
        self.database: Database = self
        self.evidence = EvidenceStore(self.database)
        self.jobs = JobStore(self.database)

    def empty(self, seeded: Sequence[tuple[Table, list[dict[str, Any]]]] = ()) -> None:
        """Every table empty and every id restarting at 1, as a freshly migrated store (tests only)."""
        super().empty([*seeded, *self.evidence.seeded_rows()])

    # -- inbox: receiving and claiming -------------------------------------

    def receive_event(
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
        caller (as :meth:`claim_event` would), in the same transaction, so the
        worker that answers ClassMarker applies it without a second round trip;
        unless another result of the same member is in flight (the returned
        row then has no lease, and waits in the queue like any other).
        A result stored unclaimed wakes the other instances (PostgreSQL NOTIFY).
        `source` says how the result first reached the bridge (webhook or poll).
        """
        now = self.now()
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
        with self.write() as session:
            if claim and member_id is not None and not self._members_free(session, [member_id], now):
                values = {**values, "lease_until": None, "attempts": 0}  # another result of the member is in flight
            row = self.insert_ignore_returning(session, InboxEvent, values)
            created = row is not None
            if row is None:
                row = session.execute(statements.EVENT_BY_KEY, {"result_key": result_key}).one()
            elif status == EventStatus.QUEUED and values.get("lease_until") is None:
                self._notify_inbox(session)
        return statements.loaded(InboxEvent, row), created

    def claim_event(
        self, event_id: int, lease_seconds: float, *, statuses: Sequence[EventStatus] = (EventStatus.QUEUED,)
    ) -> InboxEvent | None:
        """Take an event for processing unless another worker holds it; None when not claimed."""
        now = self.now()
        lease = {"now": now, "lease_end": now + dt.timedelta(seconds=lease_seconds)}
        with self.write() as session:
            if not self.is_sqlite:
                member_id = session.scalar(select(InboxEvent.member_id).where(InboxEvent.id == event_id))
                if member_id is not None and not self._lock_members(session, [member_id]):
                    return None
            row = session.execute(statements.CLAIM_EVENT, {"event_id": event_id, "statuses": list(statuses), **lease}).first()
        return statements.loaded(InboxEvent, row) if row is not None else None

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
        now = self.now()
        lease = {"now": now, "lease_end": now + dt.timedelta(seconds=lease_seconds)}
        excluded = list(exclude)
        with self.write() as session:
            if self.is_sqlite:
                statement = statements.CLAIM_DUE_FRESH if fresh_only else statements.CLAIM_DUE
                rows = session.execute(statement, {**lease, "limit": limit, "exclude": excluded}).all()
            else:
                rows = self._claim_due_locked(session, limit, lease, fresh_only=fresh_only, exclude=excluded)
        return sorted((statements.loaded(InboxEvent, row) for row in rows), key=lambda event: event.id)

    def _claim_due_locked(
        self, session: Session, limit: int, lease: dict[str, Any], *, fresh_only: bool, exclude: list[int]
    ) -> Sequence[Any]:
        scan = {"now": lease["now"], "limit": max(4 * limit, 16), "exclude": exclude}
        chosen: dict[int | None, int] = {}
        for event_id, member_id, attempts in session.execute(statements.DUE_CANDIDATES, scan):
            if fresh_only and attempts:
                continue
            key = member_id if member_id is not None else -event_id
            chosen.setdefault(key, event_id)
        members = [key for key in chosen if key is not None and key > 0]
        free = self._members_free(session, members, lease["now"]) if members else set()
        ids = [event_id for key, event_id in chosen.items() if key is None or key < 0 or key in free][:limit]
        if not ids:
            return []
        return session.execute(statements.LEASE_EVENTS, {**lease, "ids": ids}).all()

    def _members_free(self, session: Session, members: list[int], now: dt.datetime) -> set[int]:
        """Of `members`, those with no result in flight, held so until this transaction ends (see claim_due)."""
        candidates = members if self.is_sqlite else self._lock_members(session, members)
        if not candidates:
            return set()
        busy = set(session.scalars(statements.BUSY_MEMBERS, {"members": candidates, "now": now}))
        return {member for member in candidates if member not in busy}

    def _lock_members(self, session: Session, members: list[int]) -> list[int]:
        """PostgreSQL: win each member's advisory lock for this transaction, without waiting; those won."""
        return list(session.scalars(_LOCK_MEMBERS, {"members": members, "base": _MEMBER_LOCK_BASE}))

    def _notify_inbox(self, session: Session) -> None:
        """PostgreSQL: wake every instance's listener when this transaction commits (SQLite instances poll)."""
        if not self.is_sqlite:
            session.execute(_NOTIFY, {"channel": INBOX_CHANNEL})

    def any_due(self) -> bool:
        """Whether any event is due and free (a read, no lock: the poll before a claim)."""
        with self.read() as session:
            return session.execute(statements.ANY_DUE, {"now": self.now()}).first() is not None

    def release_events(self, event_ids: Sequence[int]) -> None:
        """Give claimed events back untouched, due at once for any worker (which is woken)."""
        if not event_ids:
            return
        with self.write() as session:
            session.execute(statements.RELEASE_EVENTS, {"ids": list(event_ids), "now": self.now()})
            self._notify_inbox(session)

    def event_states(self, event_ids: Sequence[int]) -> dict[int, tuple[str, int, dt.datetime | None]]:
        """(status, attempts, lease end) of each of these events, as they stand now."""
        if not event_ids:
            return {}
        with self.read() as session:
            rows = session.execute(statements.EVENT_STATES, {"ids": list(event_ids)}).all()
        return {int(row.id): (str(row.status), int(row.attempts), row.lease_until) for row in rows}

    def inbox_listener(self) -> InboxListener | None:
        """A dedicated connection that hears when results are stored or given back (PostgreSQL); None on SQLite."""
        if self.is_sqlite:
            return None
        return InboxListener(make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False))

    def note_identity(self, event_id: int, member_id: int, course_id: int) -> None:
        """Remember whose result an event is, once its cm_user_id is decoded."""
        with self.write() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(member_id=member_id, course_id=course_id, updated_at=self.now())
            )

    # -- inbox: transitions ----------------------------------------------

    def mark_applied(
        self, event_id: int, outcome: str, *, ledger: dict[str, Any] | None = None, messages: Iterable[OutgoingMessage] = ()
    ) -> None:
        """queued -> applied, with its ledger row, its evidence leaf and its mail, in one transaction.

        A grant appends a `granted` leaf, a counted failed attempt a `failed` one (section 16).
        The leaf comes last: taking its index locks the log's one counter row until
        the commit, so every other statement runs before, not while other
        processes' results wait for that row.
        """
        now = self.now()
        with self.write() as session:
            self._enqueue(session, messages, now)
            session.execute(statements.MARK_APPLIED, {"event_id": event_id, "outcome": outcome, "now": now})
            if ledger is not None:
                row = {"granted_at": now, **ledger}
                self.insert_ignore(session, LedgerEntry, row)
                self.evidence.append_result(
                    session, event_id, EvidenceEvent.GRANTED, member_id=row["member_id"], course_id=row["course_id"],
                    fabman_record_id=row.get("fabman_record_id"), recorded_at=row["granted_at"],
                )  # fmt: skip
            elif outcome in COUNTED_FAILURES:
                self.evidence.append_result(
                    session, event_id, EvidenceEvent.FAILED, member_id=None, course_id=None, fabman_record_id=None,
                    recorded_at=now,
                )  # fmt: skip

    def close_event(
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
        now = self.now()
        values: dict[str, Any] = {"status": status, "last_error": error[:_ERROR_LENGTH], "lease_until": None, "updated_at": now}
        if outcome is not None:
            values["outcome"] = outcome
        with self.write() as session:
            self._enqueue(session, messages, now)
            session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(**values))

    def defer_event(self, event_id: int, error: str, retry_at: dt.datetime) -> None:
        """Stay queued: release the lease and try again at `retry_at`."""
        with self.write() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(
                    status=EventStatus.QUEUED,
                    last_error=error[:_ERROR_LENGTH],
                    next_attempt_at=retry_at,
                    lease_until=None,
                    updated_at=self.now(),
                )
            )

    def requeue_event(
        self, event_id: int, *, statuses: Sequence[EventStatus] = REPLAYABLE, not_before: dt.datetime | None = None
    ) -> bool:
        """Put an event in one of `statuses` back in the queue, due now; False while a worker holds it.

        Its retry age starts again, so a replayed event gets the full RETRY_MAX_AGE_HOURS. With
        `not_before` it is due only then and no other process is told: the caller applies it itself
        at once (a staff replay), and the others take it after `not_before` only if that failed.
        """
        now = self.now()
        with self.write() as session:
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

    def due_event_ids(self, limit: int = 100) -> list[int]:
        """Queued events whose next attempt is due and that no live lease holds."""
        now = self.now()
        with self.read() as session:
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

    def get_event(self, event_id: int) -> InboxEvent | None:
        """One inbox row."""
        with self.read() as session:
            return session.get(InboxEvent, event_id)

    def events(self, *, status: EventStatus | None = None, limit: int = 100) -> list[InboxEvent]:
        """The newest inbox rows, optionally of one status."""
        with self.read() as session:
            query = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
            if status:
                query = query.where(InboxEvent.status == status)
            return list(session.scalars(query))

    def count_events(self) -> dict[str, int]:
        """Inbox rows per status."""
        with self.read() as session:
            rows = session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all()
        return {str(status): int(count) for status, count in rows}

    def event_keys(self) -> dict[str, str]:
        """Status per result key, every inbox row (reliability checks read the whole inbox)."""
        with self.read() as session:
            return {key: status for key, status in session.execute(select(InboxEvent.result_key, InboxEvent.status))}

    # -- outbox ----------------------------------------------------------

    def _enqueue(self, session: Session, messages: Iterable[OutgoingMessage], now: dt.datetime) -> int:
        queued = 0
        for message in messages:
            values = {
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
            queued += self.insert_ignore(session, OutboxMessage, values)
        return queued

    def enqueue(self, messages: Iterable[OutgoingMessage]) -> int:
        """Queue messages in one transaction; how many were new (a known dedupe key is skipped)."""
        with self.write() as session:
            return self._enqueue(session, messages, self.now())

    def queued_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these dedupe keys the outbox already holds (sent or not)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        with self.read() as session:
            return set(session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(wanted))))

    def claim_messages(self, lease_seconds: float, *, limit: int = 50, ids: list[int] | None = None) -> list[OutboxMessage]:
        """Lease due pending messages to this sender (all due, or only `ids`), oldest first, in one statement.

        The outer conditions are checked again on every row the UPDATE takes,
        so of two senders claiming at once each message goes to one of them.
        """
        now = self.now()
        claim = {"now": now, "limit": limit, "lease_end": now + dt.timedelta(seconds=lease_seconds)}
        with self.write() as session:
            if ids is None:
                rows = session.execute(statements.CLAIM_MESSAGES, claim).all()
            else:
                rows = session.execute(statements.CLAIM_MESSAGES_AMONG, {**claim, "ids": ids}).all()
        return sorted((statements.loaded(OutboxMessage, row) for row in rows), key=lambda message: message.id)

    def mark_sent(self, message_id: int) -> None:
        """pending -> sent."""
        self._finish_message(statements.MARK_SENT, {"message_id": message_id, "now": self.now()})

    def postpone_message(self, message_id: int, error: str, retry_at: dt.datetime) -> None:
        """Stay pending after a failed send; try again at `retry_at`."""
        self._finish_message(
            statements.POSTPONE_MESSAGE, {"message_id": message_id, "error": error[:_ERROR_LENGTH], "retry_at": retry_at}
        )

    def mark_message_dead(self, message_id: int, error: str) -> None:
        """pending -> dead: too old to keep trying."""
        self._finish_message(statements.MESSAGE_DEAD, {"message_id": message_id, "error": error[:_ERROR_LENGTH]})

    def _finish_message(self, statement: Executable, parameters: dict[str, Any]) -> None:
        with self.write() as session:
            session.execute(statement, parameters)

    def messages(
        self, *, status: MessageStatus | None = None, member_id: int | None = None, limit: int = 500
    ) -> list[OutboxMessage]:
        """Outbox rows, newest first."""
        with self.read() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if status:
                query = query.where(OutboxMessage.status == status)
            if member_id is not None:
                query = query.where(OutboxMessage.member_id == member_id)
            return list(session.scalars(query))

    def count_messages(self) -> dict[str, int]:
        """Outbox rows per status."""
        with self.read() as session:
            rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        return {str(status): int(count) for status, count in rows}

    # -- ledger ----------------------------------------------------------

    def ledger(self, *, member_id: int | None = None) -> list[LedgerEntry]:
        """Granted trainings, newest first."""
        with self.read() as session:
            query = select(LedgerEntry).order_by(LedgerEntry.id.desc())
            if member_id is not None:
                query = query.where(LedgerEntry.member_id == member_id)
            return list(session.scalars(query))

    def table_counts(self) -> dict[str, int]:
        """Rows in each of the bridge's tables (for checks that nothing was half-written)."""
        with self.read() as session:
            return {
                model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (InboxEvent, OutboxMessage, LedgerEntry)
            }
