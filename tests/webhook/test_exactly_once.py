"""Contract 4.5: one result, one effect, however often and however concurrently it arrives."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask.testing import FlaskClient

from bridge.adapters.store import Store
from bridge.application import Bridge
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import GunicornBridge, SmtpSink
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator
from tests.webhook.conftest import (
    WEBHOOK,
    course_records,
    deliver,
    failed_courses,
    only_event,
    settled,
    table_counts,
    token,
    writes,
)

PETRA, JAN, LASER, CNC = 1, 2, 2, 4


def test_same_result_in_sequence_has_one_effect(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    payload = result_payload(token(bridge, PETRA, LASER))

    statuses = [deliver(client, payload).json["status"] for _ in range(3)]

    assert statuses == ["accepted", "duplicate", "duplicate"]
    assert (only_event(bridge.store).status, only_event(bridge.store).outcome) == ("applied", "granted")
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert len(smtp.messages) == 1
    assert table_counts(bridge.store) == {"inbox_events": 1, "outbox_messages": 1, "training_ledger": 1}


@pytest.mark.e2e
def test_ten_concurrent_deliveries_to_three_gunicorn_workers_have_one_effect(
    env: dict[str, str], simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    """Also starts three workers on a fresh store at once: each migrates it, none fails."""
    from bridge.adapters.codec import CmUserIdCodec

    body, headers = signed(result_payload(CmUserIdCodec([env["FERNET_KEY"]]).encode(PETRA, LASER)))
    with GunicornBridge(env, workers=3) as server, requests.Session() as http:
        assert len(server.worker_pids()) == 3

        def post(_: int) -> requests.Response:
            return http.post(server.url + WEBHOOK, data=body, headers=headers, timeout=30)

        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(post, range(10)))

        assert {r.status_code for r in responses} == {200}
        statuses = Counter(r.json()["status"] for r in responses)
        # One delivery stores it: handed to a free applier (`accepted`) or, all busy, queued for the next free one.
        assert statuses["duplicate"] == 9 and statuses["accepted"] + statuses["queued"] == 1, statuses
        store = Store(env["DATABASE_URL"])
        try:
            wait_until(lambda: [e.status for e in store.inbox.events()] == ["applied"], timeout=30, what="the result applied")
            wait_until(lambda: len(smtp.messages) == 1, timeout=30, what="the member's mail")
            assert table_counts(store) == {"inbox_events": 1, "outbox_messages": 1, "training_ledger": 1}
        finally:
            store.dispose()
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert [m for m, _, _ in writes(simulator)] == ["POST", "DELETE"]
    assert len(smtp.messages) == 1


def test_lost_answer_to_a_created_record_is_found_before_giving_up(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    simulator.faults.fail_next(1, 503, method="POST", path_contains="/trainings", after_apply=True)

    response = deliver(client, result_payload(token(bridge, PETRA, LASER)))

    assert settled(bridge, response).status == "applied"
    assert [(m, s) for m, _, s in writes(simulator)] == [("POST", 503), ("DELETE", 204)]
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert len(smtp.messages) == 1


def test_crash_after_fabman_created_the_record_does_not_create_a_second_one(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    """Fabman commits the record, its answer is lost and Fabman stops answering: the event stays queued."""
    simulator.faults.fail_next(1, 503, method="POST", path_contains="/trainings", after_apply=True)
    simulator.faults.fail_next(3, 503, method="GET", path_contains="/trainings")  # longer than the client retries

    response = deliver(client, result_payload(token(bridge, PETRA, LASER)))

    assert settled(bridge, response).status == "queued"
    created = [r for r in course_records(simulator, PETRA, LASER) if "#88123401" in (r["notes"] or "")]
    assert len(created) == 1
    assert smtp.messages == []

    summary = client.post("/cron/retry", headers=cron_headers).json

    assert summary["applied"] == 1
    assert course_records(simulator, PETRA, LASER) == created
    assert [m for m, _, _ in writes(simulator)] == ["POST", "DELETE"]
    assert len(smtp.messages) == 1
    [entry] = bridge.store.ledger.entries()
    assert entry.fabman_record_id == created[0]["id"]


def test_record_already_in_fabman_from_an_earlier_run_is_not_created_again(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    """A worker died after Fabman created the record (notes name the result) and before the store knew."""
    created = simulator.state.add_training(PETRA, LASER, "2026-01-01", None, "Online quiz passed. ClassMarker result #88123401.")

    response = deliver(client, result_payload(token(bridge, PETRA, LASER)))

    assert settled(bridge, response).outcome == "granted"
    assert [r["id"] for r in course_records(simulator, PETRA, LASER)] == [created["id"]]
    assert [m for m, _, _ in writes(simulator)] == ["DELETE"]
    assert len(smtp.messages) == 1


def test_crash_after_fabman_counted_the_attempt_does_not_count_it_twice(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    simulator.faults.fail_next(1, 503, method="PUT", after_apply=True)

    response = deliver(client, result_payload(token(bridge, JAN, CNC), quiz=quiz_of(CNC), passed=False))

    assert settled(bridge, response).status == "queued"
    assert [e["attempts"] for e in failed_courses(simulator, JAN) if e["id"] == CNC] == [3]

    summary = client.post("/cron/retry", headers=cron_headers).json

    assert summary["applied"] == 1
    assert [e["attempts"] for e in failed_courses(simulator, JAN) if e["id"] == CNC] == [3]
    assert [(m, s) for m, _, s in writes(simulator)] == [("PUT", 503)]
    [mail] = smtp.messages
    assert "Zbývají vám ještě 2 pokusy" in mail.get_body(preferencelist=("plain",)).get_content()
