"""Rule 4.4 and issue 10: ClassMarker's answer costs at most two short store transactions and no Fabman call;
the whole of a failing result (answer, applying, its mail sent) four transactions and ten statements
(six, plus the four that append its `failed` evidence leaf in the applying transaction: its raw body read,
the log's counter taken, the member's salt, the leaf)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from bridge.application import Bridge
from harness.classmarker import quiz_of, result_payload
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.webhook.conftest import STAFF, deliver, token

PETRA, LASER = 1, 2
MARKETA, SAFETY = 12, 1


@pytest.fixture
def transactions(bridge: Bridge) -> Iterator[list[str]]:
    """The store transactions begun on the test's own thread (the request's), by kind.

    What runs after the answer is out (sending a rejected result's staff alert)
    runs on this thread too, when the test client closes the response; it is
    counted, so a rejected token shows its two transactions and the mail's.
    """
    begun: list[str] = []
    me = threading.get_ident()
    engines = {"write": bridge.store.database.engine}
    if bridge.store.database._read_engine is not bridge.store.database.engine:  # on PostgreSQL one engine does both (all "write")
        engines["read"] = bridge.store.database._read_engine
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


@pytest.fixture
def statements(bridge: Bridge) -> Iterator[Counter[str]]:
    """Store transactions begun and SQL statements run on any thread (the request's and the apply pool's)."""
    counted: Counter[str] = Counter()

    def begun(connection: Any) -> None:
        counted["transactions"] += 1

    def ran(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is the transaction itself
            counted["statements"] += 1

    engines = {bridge.store.database.engine, bridge.store.database._read_engine}
    for engine in engines:
        event.listen(engine, "begin", begun)
        event.listen(engine, "before_cursor_execute", ran)
    yield counted
    for engine in engines:
        event.remove(engine, "begin", begun)
        event.remove(engine, "before_cursor_execute", ran)


def test_a_failing_result_from_the_answer_to_its_mail_sent_costs_four_transactions_and_ten_statements(
    client: FlaskClient, bridge: Bridge, smtp: SmtpSink, statements: Counter[str]
) -> None:
    """Stored claimed (1: is another result of the member in flight? then the insert), applied with its mail
    queued and its evidence leaf (2), the mail claimed (3) and marked sent (4). On PostgreSQL the first also
    takes the member's lock, and the leaf takes its index in its own insert (one statement fewer)."""
    response = deliver(client, result_payload(token(bridge, MARKETA, SAFETY), quiz=quiz_of(SAFETY), passed=False, percentage=40))
    cost = dict(statements)  # before the checks below read the store

    assert response.json["status"] == "accepted"
    stored = bridge.store.inbox.get(response.json["event_id"])
    assert stored is not None and (stored.status, stored.outcome) == ("applied", "failed")
    [mail] = bridge.store.outbox.messages()
    assert mail.status == "sent" and [m["To"] for m in smtp.messages] == ["marketa.pospisilova@example.org"]
    assert cost == {"transactions": 4, "statements": 10}
    assert [leaf.event for leaf in bridge.store.evidence.leaves()] == ["failed"]
