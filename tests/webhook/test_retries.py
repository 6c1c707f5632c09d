"""Contract 4.4 and 6: when Fabman fails the result waits in the store and is applied once it is back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.adapters.store.models import InboxEvent
from bridge.application import Bridge
from harness.classmarker import result_payload
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.support import text_of
from tests.webhook.conftest import (
    STAFF,
    DiscordSink,
    course_records,
    deliver,
    only_event,
    settled,
    token,
    writes,
)

PETRA, LASER = 1, 2


def break_fabman(simulator: FabmanSimulator, how: str) -> None:
    """Fabman fails for longer than the client keeps trying (two retries of a read, 6 s of 429 waits, 1 s timeouts).

    Applying reads the course and the member at the same time: six failing
    GETs exhaust both reads' three tries, whichever takes which.
    """
    if how == "down":
        simulator.faults.down = True
    elif how == "503":
        simulator.faults.fail_next(6, 503, method="GET")
    elif how == "429":
        simulator.faults.fail_next(1, 429, method="GET")
        simulator.faults.retry_after = 10
    elif how == "hang":
        simulator.faults.hang_seconds = 1.5


def assert_queued_untouched(bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink) -> None:
    event = only_event(bridge.store)
    assert event.status == "queued"
    assert event.next_attempt_at is not None
    assert event.last_error
    assert writes(simulator) == []
    assert len(course_records(simulator, PETRA, LASER)) == 1  # only the expired record
    assert smtp.messages == []


@pytest.mark.parametrize("how", ["down", "503", "429", "hang"])
def test_failing_fabman_queues_the_result_and_the_retry_job_applies_it_once(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
    how: str,
) -> None:
    break_fabman(simulator, how)

    response = deliver(client, result_payload(token(bridge, PETRA, LASER)))

    assert settled(bridge, response).status == "queued"
    assert_queued_untouched(bridge, simulator, smtp)

    simulator.faults.reset()
    first = client.post("/cron/retry", headers=cron_headers)
    second = client.post("/cron/retry", headers=cron_headers)

    assert first.status_code == 200
    assert (first.json["processed"], first.json["applied"], first.json["waiting"]) == (1, 1, 0)  # by the appliers
    assert (second.json["processed"], second.json["applied"], second.json["mails_sent"]) == (0, 0, 0)
    [record] = course_records(simulator, PETRA, LASER)
    assert "#88123401" in record["notes"]
    assert [m["Subject"] for m in smtp.messages] == ["Školení splněno: Laserová řezačka / Training completed: Laser cutter"]
    assert only_event(bridge.store).status == "applied"
    assert deliver(client, result_payload(token(bridge, PETRA, LASER))).json["status"] == "duplicate"


def test_still_failing_fabman_keeps_the_event_queued_with_a_later_attempt(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    simulator.faults.down = True
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    first_try = only_event(bridge.store)

    summary = client.post("/cron/retry", headers=cron_headers).json

    assert (summary["processed"], summary["queued"]) == (1, 1)
    event = only_event(bridge.store)
    assert (event.status, event.attempts) == ("queued", 2)
    assert event.next_attempt_at is not None and first_try.next_attempt_at is not None
    assert writes(simulator) == [] and smtp.messages == []


def test_flask_retry_command_applies_due_results(
    client: FlaskClient, runner: FlaskCliRunner, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    simulator.faults.down = True
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    simulator.faults.reset()

    result = runner.invoke(args=["retry"])
    again = runner.invoke(args=["retry"])

    assert result.exit_code == 0, result.output
    assert '"applied": 1' in result.output
    assert '"processed": 0' in again.output
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert len(smtp.messages) == 1


def test_cron_retry_needs_the_token(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator) -> None:
    simulator.faults.down = True
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    simulator.faults.reset()

    missing = client.post("/cron/retry")
    wrong = client.post("/cron/retry", headers={"CronjobToken": "guess"})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.mimetype == "application/problem+json"
    assert only_event(bridge.store).status == "queued"
    assert writes(simulator) == []


def test_cron_retry_is_503_while_no_token_is_configured(make_app: Callable[..., Flask]) -> None:
    client = make_app(CRONJOB_TOKEN=None).test_client()

    for headers in ({}, {"CronjobToken": ""}, {"CronjobToken": "anything"}):
        response = client.post("/cron/retry", headers=headers)
        assert response.status_code == 503
        assert response.json["status"] == 503


def dead_event(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, cron_headers: dict[str, str]) -> InboxEvent:
    """Petra's pass, delivered while Fabman is down and retried past RETRY_MAX_AGE_HOURS (48): dead, Fabman still down."""
    simulator.faults.down = True
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    bridge.clock.advance(hours=49)  # RETRY_MAX_AGE_HOURS defaults to 48
    client.post("/cron/retry", headers=cron_headers)
    event = only_event(bridge.store)
    assert event.status == "dead"
    return event


def test_event_failing_past_the_maximum_age_is_dead_alerted_and_replayable(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    discord: DiscordSink,
    cron_headers: dict[str, str],
    api_headers: dict[str, str],
) -> None:
    simulator.faults.down = True
    cm_user_id = token(bridge, PETRA, LASER)
    deliver(client, result_payload(cm_user_id))
    event = only_event(bridge.store)
    bridge.clock.advance(hours=49)  # RETRY_MAX_AGE_HOURS defaults to 48

    summary = client.post("/cron/retry", headers=cron_headers).json

    assert summary["dead"] == 1
    assert only_event(bridge.store).status == "dead"
    [alert] = smtp.to(STAFF)
    for text in (text_of(alert), discord.contents[0]):
        assert f"Event {event.id} failed for 48 h" in text
        assert f"flask replay-event {event.id}" in text
        assert cm_user_id not in text
    assert client.post("/cron/retry", headers=cron_headers).json["processed"] == 0
    assert smtp.to("petra.dvorakova@example.org") == []

    simulator.faults.reset()
    listed = client.get("/admin/events?status=dead", headers=api_headers).json
    replayed = client.post(f"/admin/events/{event.id}/replay", headers=api_headers)

    assert [e["id"] for e in listed] == [event.id]
    assert replayed.json == {"status": "applied", "event_id": event.id, "outcome": "granted"}
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert len(smtp.to("petra.dvorakova@example.org")) == 1


def test_dead_event_is_replayable_from_the_cli(
    client: FlaskClient,
    runner: FlaskCliRunner,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
) -> None:
    event = dead_event(client, bridge, simulator, cron_headers)
    simulator.faults.reset()

    result = runner.invoke(args=["replay-event", str(event.id)])

    assert result.exit_code == 0, result.output
    assert '"status": "applied"' in result.output
    assert only_event(bridge.store).status == "applied"
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert len(smtp.to("petra.dvorakova@example.org")) == 1


def test_replay_while_fabman_is_still_down_gets_a_fresh_retry_window(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
    api_headers: dict[str, str],
) -> None:
    event = dead_event(client, bridge, simulator, cron_headers)

    replayed = client.post(f"/admin/events/{event.id}/replay", headers=api_headers)

    assert replayed.json["status"] == "queued"
    assert only_event(bridge.store).status == "queued"
    simulator.faults.reset()
    assert client.post("/cron/retry", headers=cron_headers).json["applied"] == 1
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert len(smtp.to("petra.dvorakova@example.org")) == 1
