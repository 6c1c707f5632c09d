"""The bridge's own store: SQLite by default, PostgreSQL in production.

:class:`Store` owns the engine, brings the schema up to date at start (under a
lock, so several gunicorn workers may start at once) and offers the few
atomic operations the use cases need: record a result once, claim work under a
lease so two workers never process the same row, and enqueue messages once.
No transaction is ever held open across a call to Fabman or SMTP.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bridge.adapters.store.models import Base, InboxEvent, LedgerEntry, OutboxMessage

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_240_611


def utcnow() -> dt.datetime:
    """The store's clock (UTC, aware)."""
    return dt.datetime.now(dt.UTC)


def normalise_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` URLs hosts hand out; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Store:
    """The relational store behind the inbox, the outbox and the ledger."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine: Engine = create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
            self._sqlite_path = parsed.database
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            self._sqlite_path = None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def drop_all(self) -> None:
        """Remove every table (tests only)."""
        with self.engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    # -- inbox -----------------------------------------------------------

    def insert_ignore(self, session: Session, model: type[Base], values: dict[str, Any]) -> bool:
        """Insert a row unless its unique key exists; True when this call inserted it.

        RETURNING tells the two apart on every driver (psycopg reports rowcount -1 here).
        """
        dialect = sqlite if self.is_sqlite else postgresql
        table = model.__table__
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(table.c.id)  # type: ignore[attr-defined]
        return session.execute(statement).first() is not None

    def record_event(self, values: dict[str, Any]) -> tuple[InboxEvent, bool]:
        """Store a received result durably once; returns the row and whether it is new."""
        now = utcnow()
        with self.session() as session:
            created = self.insert_ignore(session, InboxEvent, {"received_at": now, "updated_at": now, **values})
            row = session.scalars(select(InboxEvent).where(InboxEvent.result_key == values["result_key"])).one()
        return row, created

    def claim_event(self, event_id: int, lease_seconds: float, *, statuses: tuple[str, ...] = ("queued",)) -> InboxEvent | None:
        """Take an event for processing unless another worker holds it; None when not claimed."""
        now = utcnow()
        with self.session() as session:
            claimed = session.execute(
                update(InboxEvent)
                .where(
                    InboxEvent.id == event_id,
                    InboxEvent.status.in_(statuses),
                    (InboxEvent.lease_until.is_(None)) | (InboxEvent.lease_until < now),
                )
                .values(lease_until=now + dt.timedelta(seconds=lease_seconds), attempts=InboxEvent.attempts + 1, updated_at=now)
            ).rowcount
            return session.get(InboxEvent, event_id) if claimed else None

    def update_event(self, event_id: int, **values: Any) -> None:
        """Change fields of an inbox row."""
        with self.session() as session:
            session.execute(update(InboxEvent).where(InboxEvent.id == event_id).values(updated_at=utcnow(), **values))

    def finish_event(self, event_id: int, **values: Any) -> None:
        """Record the outcome of processing and release the lease."""
        self.update_event(event_id, **{"lease_until": None, **values})

    def requeue_event(self, event_id: int, *, statuses: tuple[str, ...]) -> bool:
        """Put an event in one of `statuses` back in the queue, due now; False while a worker holds it.

        Its retry age starts again, so a replayed event gets the full RETRY_MAX_AGE_HOURS.
        """
        now = utcnow()
        with self.session() as session:
            return bool(
                session.execute(
                    update(InboxEvent)
                    .where(
                        InboxEvent.id == event_id,
                        InboxEvent.status.in_(statuses),
                        (InboxEvent.lease_until.is_(None)) | (InboxEvent.lease_until < now),
                    )
                    .values(status="queued", next_attempt_at=None, retry_from=now, updated_at=now)
                ).rowcount
            )

    def due_event_ids(self, limit: int = 100) -> list[int]:
        """Queued events whose next attempt is due and that no live lease holds."""
        now = utcnow()
        with self.session() as session:
            return list(
                session.scalars(
                    select(InboxEvent.id)
                    .where(
                        InboxEvent.status == "queued",
                        (InboxEvent.next_attempt_at.is_(None)) | (InboxEvent.next_attempt_at <= now),
                        (InboxEvent.lease_until.is_(None)) | (InboxEvent.lease_until < now),
                    )
                    .order_by(InboxEvent.id)
                    .limit(limit)
                )
            )

    def get_event(self, event_id: int) -> InboxEvent | None:
        """One inbox row."""
        with self.session() as session:
            return session.get(InboxEvent, event_id)

    def events(self, *, status: str | None = None, limit: int = 100) -> list[InboxEvent]:
        """The newest inbox rows, optionally of one status."""
        with self.session() as session:
            query = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
            if status:
                query = query.where(InboxEvent.status == status)
            return list(session.scalars(query))

    def count_events(self) -> dict[str, int]:
        """Inbox rows per status."""
        with self.session() as session:
            return dict(session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())  # type: ignore[arg-type]

    # -- outbox ----------------------------------------------------------

    def enqueue(self, session: Session, values: dict[str, Any]) -> bool:
        """Queue a message in the caller's transaction; False when its dedupe key exists."""
        return self.insert_ignore(session, OutboxMessage, {"status": "pending", "attempts": 0, "created_at": utcnow(), **values})

    def claim_messages(self, lease_seconds: float, *, limit: int = 50, ids: list[int] | None = None) -> list[OutboxMessage]:
        """Lease due pending messages to this sender (all due, or only `ids`)."""
        now = utcnow()
        with self.session() as session:
            query = select(OutboxMessage.id).where(
                OutboxMessage.status == "pending",
                (OutboxMessage.next_attempt_at.is_(None)) | (OutboxMessage.next_attempt_at <= now),
                (OutboxMessage.lease_until.is_(None)) | (OutboxMessage.lease_until < now),
            )
            if ids is not None:
                query = query.where(OutboxMessage.id.in_(ids))
            candidates = list(session.scalars(query.order_by(OutboxMessage.id).limit(limit)))
        claimed = []
        for message_id in candidates:
            with self.session() as session:
                won = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.status == "pending",
                        (OutboxMessage.lease_until.is_(None)) | (OutboxMessage.lease_until < now),
                    )
                    .values(lease_until=now + dt.timedelta(seconds=lease_seconds), attempts=OutboxMessage.attempts + 1)
                ).rowcount
                if won:
                    claimed.append(session.get_one(OutboxMessage, message_id))
        return claimed

    def finish_message(self, message_id: int, **values: Any) -> None:
        """Record a send attempt's outcome and release the lease."""
        with self.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(lease_until=None, **values))

    def messages(self, *, status: str | None = None, member_id: int | None = None, limit: int = 500) -> list[OutboxMessage]:
        """Outbox rows, newest first."""
        with self.session() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if status:
                query = query.where(OutboxMessage.status == status)
            if member_id is not None:
                query = query.where(OutboxMessage.member_id == member_id)
            return list(session.scalars(query))

    # -- ledger ----------------------------------------------------------

    def ledger(self, *, member_id: int | None = None) -> list[LedgerEntry]:
        """Granted trainings, newest first."""
        with self.session() as session:
            query = select(LedgerEntry).order_by(LedgerEntry.id.desc())
            if member_id is not None:
                query = query.where(LedgerEntry.member_id == member_id)
            return list(session.scalars(query))


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy issue BEGIN itself, and use WAL so readers never block the writer."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Take the write lock up front so concurrent workers queue instead of failing."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")
