"""Rule 4.4 and issue 10: ClassMarker's answer costs at most two short store transactions and no Fabman call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from bridge.application import Bridge
from bridge.simulator import FabmanSimulator
from harness.classmarker import result_payload
from harness.launch import SmtpSink
from tests.webhook.conftest import STAFF, deliver, token

pytestmark = pytest.mark.e2e

PETRA, LASER = 1, 2


@pytest.fixture
def transactions(bridge: Bridge) -> Iterator[list[str]]:
    """The store transactions begun on the test's own thread (the request's), by kind.

    What runs after the answer is out (sending a rejected result's staff alert)
    runs on this thread too, when the test client closes the response; it is
    counted, so a rejected token shows its two transactions and the mail's.
    """
    begun: list[str] = []
    me = threading.get_ident()
    engines = {"write": bridge.store.engine}
    if bridge.store._read_engine is not bridge.store.engine:  # on PostgreSQL one engine does both (all "write")
        engines["read"] = bridge.store._read_engine
    listeners = []
    for kind, engine in engines.items():

        def note(connection: Any, kind: str = kind) -> None:
            if threading.get_ident() == me:
                begun.append(kind)

        event.listen(engine, "begin", note)
        listeners.append((engine, note))
    yield begun
    for engine, note in listeners:
        event.remove(engine, "begin", note)


def test_an_accepted_result_costs_one_transaction_and_no_fabman_call(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, transactions: list[str]
) -> None:
    response = deliver(client, result_payload(token(bridge, PETRA, LASER)))

    assert response.json["status"] == "accepted"
    assert transactions == ["write"]


def test_a_duplicate_costs_one_transaction(client: FlaskClient, bridge: Bridge, transactions: list[str]) -> None:
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    transactions.clear()

    assert deliver(client, result_payload(token(bridge, PETRA, LASER))).json["status"] == "duplicate"
    assert transactions == ["write"]


def test_a_token_that_does_not_decrypt_costs_two_transactions(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, transactions: list[str]
) -> None:
    response = deliver(client, result_payload("gAAAAAB" + "not-a-real-token" * 5))

    assert response.json["status"] == "rejected"
    assert transactions[:2] == ["write", "write"]  # stored, then closed with its staff alert; the rest sends it
    assert [str(m["Subject"]) for m in smtp.to(STAFF)] == ["[FabLab Bridge] ClassMarker result rejected"]
    assert simulator.requests == []
