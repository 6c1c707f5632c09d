"""The bridge's own store: SQLite by default, PostgreSQL in production.

:class:`Store` owns the engine, brings the schema up to date at start (under a
lock, so several gunicorn workers may start at once) and owns the two state
machines the bridge keeps: the inbox of received results and the outbox of
mail and alerts. Every transition is one method and one transaction; nothing
outside this package writes SQL. No transaction is ever held open across a
call to Fabman or SMTP.

On SQLite only writing transactions take the database's write lock (`BEGIN
IMMEDIATE`, so concurrent writers queue instead of failing); readers use WAL
snapshots and never wait behind a writer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bridge.adapters.store.jobs import JobQueries
from bridge.adapters.store.models import Base, InboxEvent, JobRun, LedgerEntry, OutboxMessage
from bridge.clock import Clock, SystemClock
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import REPLAYABLE, EventStatus, MessageStatus

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_240_611
_ERROR_LENGTH = 500

__all__ = ["InboxEvent", "JobRun", "LedgerEntry", "OutboxMessage", "Store", "normalise_url"]


def normalise_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` URLs hosts hand out; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _not_leased(column: Any, now: dt.datetime) -> Any:
    return column.is_(None) | (column < now)


class Store(JobQueries):
    """The relational store behind the inbox, the outbox and the ledger."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self.url = normalise_url(url)
        self.clock: Clock = clock or SystemClock()
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            arguments = {"timeout": 30, "check_same_thread": False}
            self.engine: Engine = create_engine(self.url, connect_args=arguments)
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin_write)
            self._read_engine: Engine = create_engine(self.url, connect_args=arguments)
            event.listen(self._read_engine, "connect", _sqlite_connect)
            event.listen(self._read_engine, "begin", _sqlite_begin_read)
            self._sqlite_path = parsed.database
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            self._read_engine = self.engine
            self._sqlite_path = None
        self._writes = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(self._read_engine, expire_on_commit=False)

    def now(self) -> dt.datetime:
        """The store's clock (UTC, aware)."""
        return self.clock.now()

    # -- lifecycle -------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when many processes start at once."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock(), self.engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """A file lock beside an SQLite database (PostgreSQL uses an advisory lock)."""
        if not self._sqlite_path or self._sqlite_path == ":memory:":
            yield
            return
        lock_path = Path(self._sqlite_path).with_suffix(".migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ping(self) -> None:
        """Raise when the store cannot be reached."""
        with self._read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
        self._read_engine.dispose()

    def drop_all(self) -> None:
        """Remove every table (tests only)."""
        with self.engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A writing transaction: committed when the block ends, rolled back on error."""
        with self._writes.begin() as session:
            yield session

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        """A reading transaction (on SQLite it never waits for the write lock)."""
        with self._reads.begin() as session:
            yield session

    def _insert_ignore(self, session: Session, model: type[Base], values: dict[str, Any]) -> bool:
        """Insert a row unless its unique key exists; True when this call inserted it.

        RETURNING tells the two apart on every driver (psycopg reports rowcount -1 here).
        """
        dialect = sqlite if self.is_sqlite else postgresql
        table = model.__table__
        key = next(iter(table.primary_key.columns))  # type: ignore[attr-defined]
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)  # type: ignore[attr-defined]
        return session.execute(statement).first() is not None

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
    ) -> tuple[InboxEvent, bool]:
        """Store a received result durably once; the row and whether this call stored it.

        With `claim_seconds` a new event is stored already claimed by the
        caller (as :meth:`claim_event` would), in the same transaction, so the
        worker that answers ClassMarker applies it without a second round trip.
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
            **claim,
        }
        with self._write() as session:
            created = self._insert_ignore(session, InboxEvent, values)
            row = session.scalars(select(InboxEvent).where(InboxEvent.result_key == result_key)).one()
        return row, created

    def claim_event(
        self, event_id: int, lease_seconds: float, *, statuses: Sequence[EventStatus] = (EventStatus.QUEUED,)
    ) -> InboxEvent | None:
        """Take an event for processing unless another worker holds it; None when not claimed."""
        now = self.now()
        with self._write() as session:
            claimed = session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id, InboxEvent.status.in_(statuses), _not_leased(InboxEvent.lease_until, now))
                .values(lease_until=now + dt.timedelta(seconds=lease_seconds), attempts=InboxEvent.attempts + 1, updated_at=now)
            ).rowcount
            return session.get(InboxEvent, event_id) if claimed else None

    def release_event(self, event_id: int) -> None:
        """Give a claimed event back untouched (a worker shutting down before it started on it)."""
        with self._write() as session:
            session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(lease_until=None, updated_at=self.now()))

    def note_identity(self, event_id: int, member_id: int, course_id: int) -> None:
        """Remember whose result an event is, once its cm_user_id is decoded."""
        with self._write() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(member_id=member_id, course_id=course_id, updated_at=self.now())
            )

    # -- inbox: transitions ----------------------------------------------

    def mark_applied(
        self, event_id: int, outcome: str, *, ledger: dict[str, Any] | None = None, messages: Iterable[OutgoingMessage] = ()
    ) -> None:
        """queued -> applied, with its ledger row and its mail, in one transaction."""
        now = self.now()
        with self._write() as session:
            if ledger is not None:
                self._insert_ignore(session, LedgerEntry, {"granted_at": now, **ledger})
            self._enqueue(session, messages, now)
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(
                    status=EventStatus.APPLIED,
                    outcome=outcome,
                    lease_until=None,
                    last_error=None,
                    next_attempt_at=None,
                    updated_at=now,
                )
            )

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
        with self._write() as session:
            self._enqueue(session, messages, now)
            session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(**values))

    def defer_event(self, event_id: int, error: str, retry_at: dt.datetime) -> None:
        """Stay queued: release the lease and try again at `retry_at`."""
        with self._write() as session:
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

    def requeue_event(self, event_id: int, *, statuses: Sequence[EventStatus] = REPLAYABLE) -> bool:
        """Put an event in one of `statuses` back in the queue, due now; False while a worker holds it.

        Its retry age starts again, so a replayed event gets the full RETRY_MAX_AGE_HOURS.
        """
        now = self.now()
        with self._write() as session:
            return bool(
                session.execute(
                    update(InboxEvent)
                    .where(InboxEvent.id == event_id, InboxEvent.status.in_(statuses), _not_leased(InboxEvent.lease_until, now))
                    .values(status=EventStatus.QUEUED, next_attempt_at=None, retry_from=now, updated_at=now)
                ).rowcount
            )

    # -- inbox: reading ---------------------------------------------------

    def due_event_ids(self, limit: int = 100) -> list[int]:
        """Queued events whose next attempt is due and that no live lease holds."""
        now = self.now()
        with self._read() as session:
            return list(
                session.scalars(
                    select(InboxEvent.id)
                    .where(
                        InboxEvent.status == EventStatus.QUEUED,
                        InboxEvent.next_attempt_at.is_(None) | (InboxEvent.next_attempt_at <= now),
                        _not_leased(InboxEvent.lease_until, now),
                    )
                    .order_by(InboxEvent.id)
                    .limit(limit)
                )
            )

    def get_event(self, event_id: int) -> InboxEvent | None:
        """One inbox row."""
        with self._read() as session:
            return session.get(InboxEvent, event_id)

    def events(self, *, status: EventStatus | None = None, limit: int = 100) -> list[InboxEvent]:
        """The newest inbox rows, optionally of one status."""
        with self._read() as session:
            query = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
            if status:
                query = query.where(InboxEvent.status == status)
            return list(session.scalars(query))

    def count_events(self) -> dict[str, int]:
        """Inbox rows per status."""
        with self._read() as session:
            rows = session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all()
        return {str(status): int(count) for status, count in rows}

    def event_keys(self) -> dict[str, str]:
        """Status per result key, every inbox row (reliability checks read the whole inbox)."""
        with self._read() as session:
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
            queued += self._insert_ignore(session, OutboxMessage, values)
        return queued

    def enqueue(self, messages: Iterable[OutgoingMessage]) -> int:
        """Queue messages in one transaction; how many were new (a known dedupe key is skipped)."""
        with self._write() as session:
            return self._enqueue(session, messages, self.now())

    def queued_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these dedupe keys the outbox already holds (sent or not)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        with self._read() as session:
            return set(session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(wanted))))

    def claim_messages(self, lease_seconds: float, *, limit: int = 50, ids: list[int] | None = None) -> list[OutboxMessage]:
        """Lease due pending messages to this sender (all due, or only `ids`)."""
        now = self.now()
        with self._read() as session:
            query = select(OutboxMessage.id).where(
                OutboxMessage.status == MessageStatus.PENDING,
                OutboxMessage.next_attempt_at.is_(None) | (OutboxMessage.next_attempt_at <= now),
                _not_leased(OutboxMessage.lease_until, now),
            )
            if ids is not None:
                query = query.where(OutboxMessage.id.in_(ids))
            candidates = list(session.scalars(query.order_by(OutboxMessage.id).limit(limit)))
        claimed = []
        for message_id in candidates:
            with self._write() as session:
                won = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.status == MessageStatus.PENDING,
                        _not_leased(OutboxMessage.lease_until, now),
                    )
                    .values(lease_until=now + dt.timedelta(seconds=lease_seconds), attempts=OutboxMessage.attempts + 1)
                ).rowcount
                if won:
                    claimed.append(session.get_one(OutboxMessage, message_id))
        return claimed

    def mark_sent(self, message_id: int) -> None:
        """pending -> sent."""
        self._finish_message(message_id, status=MessageStatus.SENT, sent_at=self.now(), last_error=None)

    def postpone_message(self, message_id: int, error: str, retry_at: dt.datetime) -> None:
        """Stay pending after a failed send; try again at `retry_at`."""
        self._finish_message(message_id, status=MessageStatus.PENDING, last_error=error[:_ERROR_LENGTH], next_attempt_at=retry_at)

    def mark_message_dead(self, message_id: int, error: str) -> None:
        """pending -> dead: too old to keep trying."""
        self._finish_message(message_id, status=MessageStatus.DEAD, last_error=error[:_ERROR_LENGTH], next_attempt_at=None)

    def _finish_message(self, message_id: int, **values: Any) -> None:
        with self._write() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(lease_until=None, **values))

    def messages(
        self, *, status: MessageStatus | None = None, member_id: int | None = None, limit: int = 500
    ) -> list[OutboxMessage]:
        """Outbox rows, newest first."""
        with self._read() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if status:
                query = query.where(OutboxMessage.status == status)
            if member_id is not None:
                query = query.where(OutboxMessage.member_id == member_id)
            return list(session.scalars(query))

    def count_messages(self) -> dict[str, int]:
        """Outbox rows per status."""
        with self._read() as session:
            rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        return {str(status): int(count) for status, count in rows}

    # -- ledger ----------------------------------------------------------

    def ledger(self, *, member_id: int | None = None) -> list[LedgerEntry]:
        """Granted trainings, newest first."""
        with self._read() as session:
            query = select(LedgerEntry).order_by(LedgerEntry.id.desc())
            if member_id is not None:
                query = query.where(LedgerEntry.member_id == member_id)
            return list(session.scalars(query))

    def table_counts(self) -> dict[str, int]:
        """Rows in each of the bridge's tables (for checks that nothing was half-written)."""
        with self._read() as session:
            return {
                model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (InboxEvent, OutboxMessage, LedgerEntry)
            }


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy issue BEGIN itself, and use WAL so readers never block the writer."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_write(connection: Any) -> None:
    """Take the write lock up front so concurrent writers queue instead of failing mid-transaction."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_read(connection: Any) -> None:
    """A deferred transaction: a consistent snapshot without the write lock."""
    connection.exec_driver_sql("BEGIN")
