"""The simulator keeps connections open between requests, as fabman.io does.

A pooled client (the bridge's `requests.Session`) must see one connection
serve many requests, whatever the previous request left unread, and a stopped
simulator must stop answering even on a connection the client kept.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from sandbox.simulator import FabmanSimulator, demo_state

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer sim-admin-key"}


@pytest.fixture
def sim() -> Iterator[FabmanSimulator]:
    with FabmanSimulator(demo_state()) as simulator:
        yield simulator


def _connect(sim: FabmanSimulator) -> http.client.HTTPConnection:
    host, port = sim.root_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.connect()
    return connection


def _get_member(connection: http.client.HTTPConnection, member_id: int) -> dict[str, object]:
    connection.request("GET", f"/api/v1/members/{member_id}", headers=AUTH)
    response = connection.getresponse()
    assert response.status == 200
    return dict(json.loads(response.read()))


def test_one_connection_serves_many_requests(sim: FabmanSimulator) -> None:
    connection = _connect(sim)
    socket_before = connection.sock
    names = [_get_member(connection, member_id)["firstName"] for member_id in (1, 2, 3)]
    assert names == ["Petra", "Jan", "Tomáš"]
    assert connection.sock is socket_before  # http.client drops the socket when the server closes it
    connection.close()


def test_an_unread_request_body_does_not_spill_into_the_next_request(sim: FabmanSimulator) -> None:
    connection = _connect(sim)
    socket_before = connection.sock
    body = json.dumps({"trainingCourse": 1, "notes": "x" * 5000}).encode()
    connection.request("POST", "/api/v1/members/1/trainings", body=body, headers={"Content-Type": "application/json"})
    refused = connection.getresponse()
    assert refused.status == 401  # refused before the body was read
    refused.read()
    assert _get_member(connection, 2)["lastName"] == "Novák"
    assert [(r.method, r.status) for r in sim.requests] == [("POST", 401), ("GET", 200)]
    assert connection.sock is socket_before
    connection.close()


def test_answers_without_a_body_keep_the_connection_usable(sim: FabmanSimulator) -> None:
    record_id = sim.state.trainings_of(1)[0]["id"]
    connection = _connect(sim)
    socket_before = connection.sock
    connection.request("DELETE", f"/api/v1/members/1/trainings/{record_id}", headers=AUTH)
    deleted = connection.getresponse()
    assert (deleted.status, deleted.read()) == (204, b"")
    connection.request("HEAD", "/api/v1/members/1", headers=AUTH)
    head = connection.getresponse()
    assert (head.status, head.read()) == (200, b"")
    assert _get_member(connection, 1)["id"] == 1
    assert record_id not in [record["id"] for record in sim.state.trainings_of(1)]
    assert connection.sock is socket_before
    connection.close()


def test_a_client_asking_to_close_gets_the_connection_closed(sim: FabmanSimulator) -> None:
    connection = _connect(sim)
    connection.request("GET", "/api/v1/members/1", headers={**AUTH, "Connection": "close"})
    response = connection.getresponse()
    assert response.getheader("Connection") == "close"
    response.read()
    assert connection.sock is None
    connection.close()


def test_a_stopped_simulator_answers_nothing_on_a_kept_connection() -> None:
    sim = FabmanSimulator(demo_state()).start()
    connection = _connect(sim)
    assert _get_member(connection, 1)["id"] == 1
    sim.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _get_member(connection, 1)
    connection.close()
