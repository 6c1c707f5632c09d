"""Test-only helpers: response and mail assertions, and the guard that keeps fast tests off the network.

Launchers and signed results shared with bench/ and reliability/ live in `harness`.
"""

from __future__ import annotations

import functools
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

REACHING_OUT = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}
STARTING_PROCESSES = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec", "os.spawn"}
NETWORK_FAMILIES = {socket.AF_INET, socket.AF_INET6}


def problem(response: Any, status: int) -> dict[str, Any]:
    """Check a response is RFC 9457 problem JSON of `status` with no traceback; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body  # type: ignore[no-any-return]


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def is_e2e(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test is marked e2e (it may start servers and processes)."""
    return request.node.get_closest_marker("e2e") is not None


class ReachedOut(RuntimeError):
    """A test that must stay in its process opened a network socket or started a process."""


class _Guard:
    """One audit hook for the session (hooks cannot be removed), armed only while a guarded test runs.

    Python raises an audit event before every socket connect, bind or send
    and every process start; the hook refuses them there, in whichever
    thread, and notes each refusal so that code swallowing the error still
    fails its test.
    """

    def __init__(self) -> None:
        self.armed_for: str | None = None
        self.refused: list[str] = []
        self._lock = threading.Lock()
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self.armed_for is None:
            return
        if event in REACHING_OUT and isinstance(args[0], socket.socket) and args[0].family in NETWORK_FAMILIES:
            what = f"{event} {args[1]!r}"
        elif event in STARTING_PROCESSES:
            what = f"{event} {args[0]!r}"
        else:
            return
        with self._lock:
            self.refused.append(what)
        raise ReachedOut(f"{self.armed_for} may open no socket and start no process: {what}")


@functools.cache
def _guard() -> _Guard:
    return _Guard()


@contextmanager
def no_sockets_or_processes(test: str) -> Iterator[None]:
    """Run a test with every AF_INET/AF_INET6 connect, bind or send and every process start refused (ReachedOut).

    A refusal the code under test caught still fails the test afterwards.
    Blocks nest: the inner one leaves the outer one armed.
    """
    guard = _guard()
    previous, guard.armed_for = guard.armed_for, test
    if previous is None:
        guard.refused.clear()
    try:
        yield
    finally:
        guard.armed_for = previous
    if previous is None and guard.refused:
        pytest.fail(f"{test} opened a socket or started a process: {'; '.join(guard.refused)}", pytrace=False)


def own_database(url: str, suffix: str) -> str:
    """The URL of database `<name>_<suffix>` on the same PostgreSQL server, created when it does not exist yet."""
    base = make_url(url)
    name = f"{base.database}_{suffix}"
    server = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
        # A test database need not survive a crash of the server: commits return before the WAL reaches the disk.
        connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return base.set(database=name).render_as_string(hide_password=False)
