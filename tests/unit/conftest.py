"""Unit tests stay in their process: no socket, no child process, no PostgreSQL, whatever their markers say.

Their world is faked in process: `responses` for HTTP, Flask-Mail's
`record_messages()` for mail, SQLite in tmp_path for a store. A test that
needs a real server belongs in another folder, marked e2e.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import no_sockets_or_processes


@pytest.fixture(autouse=True)
def _no_socket_no_process(request: pytest.FixtureRequest) -> Iterator[None]:
    with no_sockets_or_processes(request.node.nodeid):
        yield


@pytest.fixture
def database_url() -> str:
    """Refused: TEST_DATABASE_URL may point it at PostgreSQL, behind a socket."""
    pytest.fail("unit tests use no shared store: build SQLite in tmp_path, or move the test out of tests/unit", pytrace=False)
