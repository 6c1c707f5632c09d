"""The stores the benchmark runs the bridge on, and how it sees from outside that a result was applied.

SQLite gets a fresh file in the run's temporary folder; PostgreSQL is a
database the caller names, whose bridge tables the benchmark drops before
each bridge starts (so every pass begins with an empty inbox). The bench
reads the inbox itself, as an operator would, through its own connection:
:class:`AppliedWatcher` polls the events it was told about until each one is
applied (or closed otherwise), so a client can send its next result.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge.adapters.store import InboxEvent, Store, normalise_url
from bridge.domain.statuses import EventStatus

POSTGRES_CONNECT_SECONDS = 3


@dataclass(frozen=True)
class StoreUnderTest:
    """One store a pass of the benchmark runs the bridge on."""

    key: str
    label: str
    url: str

    def fresh(self, workdir: Path, name: str) -> str:
        """The DATABASE_URL of a bridge that starts with an empty store."""
        if self.key == "sqlite":
            return f"sqlite:///{workdir / f'{name}.sqlite3'}"
        store = Store(self.url)
        try:
            store.database.drop_all()
        finally:
            store.dispose()
        return self.url


SQLITE = StoreUnderTest("sqlite", "SQLite", "sqlite:///")


def postgres(url: str) -> StoreUnderTest:
    """PostgreSQL at `url` (its bridge tables are dropped before each pass)."""
    return StoreUnderTest("postgresql", "PostgreSQL", url)


def postgres_unreachable(url: str) -> str | None:
    """Why PostgreSQL at `url` cannot be used (the server's own words), or None when it answers."""
    try:
        psycopg.connect(url, connect_timeout=POSTGRES_CONNECT_SECONDS).close()
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


class Waiter:
    """One event being watched: set once it left the queue, with its status and when the bench saw it."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.status: str | None = None
        self.seen_at: float | None = None

    def finish(self, status: str, seen_at: float) -> None:
        self.status, self.seen_at = status, seen_at
        self._done.set()

    def wait(self, timeout: float) -> bool:
        """True once the event was applied or closed; False when `timeout` seconds passed first."""
        return self._done.wait(timeout)


class AppliedWatcher:
    """Polls the inbox for the events clients wait on, one query for all of them every `poll_seconds`.

    An event is done when its status is no longer `queued`: applied, or
    closed as rejected, error or dead. A deferred event stays queued, so its
    client waits (until its own deadline).
    """

    def __init__(self, database_url: str, *, poll_seconds: float = 0.003) -> None:
        self.engine = create_engine(normalise_url(database_url))
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._pending: dict[int, Waiter] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="applied-watcher", daemon=True)
        self.polls = 0
        self.failed_polls = 0
        self.last_failure: str | None = None

    def __enter__(self) -> AppliedWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self.engine.dispose()

    def watch(self, event_id: int) -> Waiter:
        """Start watching one event."""
        waiter = Waiter()
        with self._lock:
            self._pending[event_id] = waiter
        self._wake.set()
        return waiter

    def being_applied(self) -> int:
        """Events some worker holds right now (claimed, not yet applied or given back)."""
        table = InboxEvent.__table__
        now = dt.datetime.now(dt.UTC)
        query = select(func.count()).where(table.c.status == EventStatus.QUEUED.value, table.c.lease_until > now)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def forget(self, event_id: int) -> None:
        """Stop watching an event its client gave up on."""
        with self._lock:
            self._pending.pop(event_id, None)

    def _loop(self) -> None:
        table = InboxEvent.__table__
        while not self._stop.is_set():
            with self._lock:
                ids = list(self._pending)
            if not ids:
                self._wake.wait(0.1)
                self._wake.clear()
                continue
            query = select(table.c.id, table.c.status).where(table.c.id.in_(ids), table.c.status != EventStatus.QUEUED.value)
            try:
                with self.engine.connect() as connection:
                    done = connection.execute(query).all()
            except SQLAlchemyError as error:  # counted and reported; the clients' own deadlines bound the wait
                self.failed_polls += 1
                self.last_failure = f"{type(error).__name__}: {error}"[:300]
                self._stop.wait(0.1)
                continue
            seen_at = time.time()
            self.polls += 1
            with self._lock:
                waiters = [(self._pending.pop(event_id, None), str(status)) for event_id, status in done]
            for waiter, status in waiters:
                if waiter is not None:
                    waiter.finish(status, seen_at)
            self._stop.wait(self.poll_seconds)
