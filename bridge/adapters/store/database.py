"""The store's foundation: engine, migrations, transactions and clock, shared by every part of the store.

One :class:`Database` is built per store and handed to each of its parts
(:mod:`bridge.adapters.store.jobs`, ...), which run their statements through
it: `write()` and `read()` transactions, `insert_ignore`, and `now()`. On
SQLite only writing transactions take the database's write lock (`BEGIN
IMMEDIATE`, so concurrent writers queue instead of failing); readers use WAL
snapshots and never wait behind a writer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Engine,
    Executable,
    Row,
    Table,
    TextualSelect,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from bridge.adapters.store.models import Base, InboxEvent, LedgerEntry, OutboxMessage, UtcDateTime
from bridge.clock import Clock, SystemClock

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_240_611
ERROR_LENGTH = 500
"""How much of an error message a row keeps."""
Model = TypeVar("Model", bound=Base)


@functools.cache
def _head_revision() -> str | None:
    """The newest revision of the migrations shipped with this code."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def normalise_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` URLs hosts hand out; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def not_leased(column: Any, now: dt.datetime | ColumnElement[Any]) -> Any:
    """No live lease on the row: none taken, or ended."""
    return column.is_(None) | (column < now)


def at_param(name: str) -> BindParameter[Any]:
    """A timestamp parameter of a statement built once (stored in UTC, as every timestamp column)."""
    return bindparam(name, type_=UtcDateTime())


def loaded(model: type[Model], row: Row[Any]) -> Model:
    """A row of every column of `model`'s table, as the model (not attached to any session)."""
    return model(**row._mapping)


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; how many rows it changed."""
    return int(cast("CursorResult[Any]", session.execute(statement)).rowcount)


class Database:
    """The engine, schema, transactions and clock every part of the store shares."""

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
        self._write_turn: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )
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

    def empty(self, seeded: Sequence[tuple[Table, list[dict[str, Any]]]] = ()) -> None:
        """Every table empty and every id restarting at 1, as a freshly migrated store (tests only).

        `seeded` are the rows the migrations write (a part of the store that
        seeds a table names them), written back. Far cheaper than dropping and
        migrating again; a store whose schema is not at the newest revision, or
        lacks a table, is dropped and migrated.
        """
        tables = list(reversed(Base.metadata.sorted_tables))
        with self.engine.begin() as connection:
            present = set(inspect(connection).get_table_names())
            version = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in present
                else None
            )
            if version == _head_revision() and present >= {table.name for table in tables}:
                for table in tables:
                    connection.execute(table.delete())
                for table, rows in seeded:
                    connection.execute(table.insert(), rows)
                if not self.is_sqlite:
                    connection.execute(
                        text(
                            "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c"
                            " JOIN pg_namespace n ON n.oid = c.relnamespace"
                            " WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                        )
                    )
                return
        self.drop_all()
        self.migrate()

    def wipe_free_space(self) -> None:
        """SQLite: fold the write-ahead log into the database and truncate it, so removed values leave no copy."""
        if not self.is_sqlite:
            return
        with self._write_turn:
            connection = self.engine.raw_connection()  # outside any transaction: a checkpoint cannot run inside one
            try:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                connection.close()

    def table_counts(self) -> dict[str, int]:
        """Rows in the inbox, the outbox and the ledger (for checks that nothing was half-written)."""
        with self.read() as session:
            return {
                model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (InboxEvent, OutboxMessage, LedgerEntry)
            }

    def count_by(self, column: Any) -> dict[str, int]:
        """Rows per value of one column (a status), as text."""
        with self.read() as session:
            rows = session.execute(select(column, func.count()).group_by(column)).all()
        return {str(value): int(count) for value, count in rows}

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A writing transaction: committed when the block ends, rolled back on error.

        On SQLite the threads of one process take turns on a lock first: SQLite's
        own busy handler makes a waiting writer sleep 1, 2, 5, 10... ms between
        tries, which under load cost more than the writes themselves. Processes
        still queue through SQLite's lock.
        """
        with self._write_turn, self._writes.begin() as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A reading transaction (on SQLite it never waits for the write lock)."""
        with self._reads.begin() as session:
            yield session

    def insert_ignore(self, session: Session, model: type[Base], values: dict[str, Any]) -> bool:
        """Insert a row unless its unique key exists; True when this call inserted it.

        RETURNING tells the two apart on every driver (psycopg reports rowcount -1 here).
        """
        return self.insert_ignore_returning(session, model, values, whole_row=False) is not None

    def insert_ignore_returning(
        self, session: Session, model: type[Base], values: dict[str, Any], *, whole_row: bool = True
    ) -> Row[Any] | None:
        """Insert a row unless its unique key exists; the inserted row (every column), or None when it existed."""
        table = cast("Table", model.__table__)
        row = {**_scalar_defaults(table), **values}
        return session.execute(_insert_ignore_statement(table, tuple(row), whole_row), row).first()


@functools.cache
def _insert_ignore_statement(table: Table, names: tuple[str, ...], whole_row: bool) -> TextualSelect:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING` (the key, or every column) for these columns, built once.

    SQLite and PostgreSQL spell it alike. SQLAlchemy's own dialect `insert()`
    with `on_conflict_do_nothing()` cannot be cached, so it was compiled anew
    on every call (the most expensive part of storing a result); this text,
    with each parameter typed as its column, is compiled once per engine.
    """
    returned = list(table.columns) if whole_row else [next(iter(table.primary_key.columns))]
    columns = ", ".join(f'"{name}"' for name in names)
    placeholders = ", ".join(f":{name}" for name in names)
    returning = ", ".join(f'"{column.name}"' for column in returned)
    typed = [bindparam(name, type_=table.c[name].type) for name in names]  # only the table's own columns
    # Identifiers from the table's own definition; every value is a bound parameter.
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING {returning}'  # noqa: S608
    return text(sql).bindparams(*typed).columns(*returned)


@functools.cache
def _scalar_defaults(table: Table) -> dict[str, Any]:
    """The Python-side column defaults (`default=0`) a Core insert would fill in."""
    defaults = {}
    for column in table.columns:
        if column.default is not None:
            if not isinstance(column.default, ScalarElementColumnDefault):
                raise TypeError(f"{table.name}.{column.name}: only scalar Python defaults are supported here")
            defaults[column.name] = column.default.arg
    return defaults


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy issue BEGIN itself, and use WAL so readers never block the writer.

    `secure_delete` overwrites what a purge or an erasure removes (contract section 17).
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
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
