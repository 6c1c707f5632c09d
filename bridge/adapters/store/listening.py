"""PostgreSQL's LISTEN/NOTIFY for the inbox: how one instance hears, within milliseconds, that another stored work.

A result stored unclaimed, or given back by a worker that stops, sends a
notification on :data:`~bridge.adapters.store.INBOX_CHANNEL` when its
transaction commits. Each worker process keeps one dedicated connection
listening for it (autocommit, outside the pool: a listening connection must
stay open and idle). The waiting is bounded, so a caller that hears nothing
still looks at the inbox once a second; a broken connection raises, and the
caller falls back to that poll and reconnects later.
"""

from __future__ import annotations

import threading

import psycopg
from psycopg import sql

CONNECT_SECONDS = 5


class InboxListener:
    """One LISTENing connection; `wait(timeout)` is True when a notification came within `timeout` seconds."""

    def __init__(self, conninfo: str, channel: str = "fablab_bridge_inbox") -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._connection: psycopg.Connection[object] | None = None
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[object]:
        connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS)
        try:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            connection.close()
            raise
        return connection

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a notification; raise psycopg.Error when the connection broke."""
        with self._lock:
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
            connection = self._connection
        try:
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error:
            self.close()
            raise
        return False

    def close(self) -> None:
        """Close the connection (a later `wait` opens a new one)."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except psycopg.Error:
                pass
