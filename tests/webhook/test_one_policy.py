"""The same job behaves the same whoever starts it: one application object, one Fabman policy per use case.

`POST /cron/retry` and `flask retry` share one code path, and so do the replay
endpoint and `flask replay-event`: each waits out Fabman's 429 and retries a
503 on a read, where the webhook's own answer would give up at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from harness.classmarker import result_payload
from sandbox.simulator import FabmanSimulator
from tests.webhook.conftest import course_records, deliver, only_event, token

PETRA, LASER = 1, 2


def member_reads(simulator: FabmanSimulator) -> list[int]:
    """Statuses Fabman gave the bridge's reads of Petra, in order."""
    return [r.status for r in simulator.requests if r.method == "GET" and r.path.rstrip("/").endswith(f"/members/{PETRA}")]


def flaky_fabman(simulator: FabmanSimulator) -> None:
    """Fabman is back, but its next two answers to reading Petra are a 429 and then a 503."""
    simulator.faults.down = False
    simulator.faults.fail_next(1, 429, "GET", f"/members/{PETRA}")
    simulator.faults.fail_next(1, 503, "GET", f"/members/{PETRA}")
    simulator.clear_requests()


def by_cron(client: FlaskClient, runner: FlaskCliRunner, cron_headers: dict[str, str]) -> dict[str, int]:
    response = client.post("/cron/retry", headers=cron_headers)
    assert response.status_code == 200
    return dict(response.json)


def by_cli(client: FlaskClient, runner: FlaskCliRunner, cron_headers: dict[str, str]) -> dict[str, int]:
    result = runner.invoke(args=["retry"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


@pytest.mark.parametrize("run_retry", [by_cron, by_cli], ids=["POST /cron/retry", "flask retry"])
def test_the_retry_job_waits_out_429_and_retries_503_whoever_starts_it(
    run_retry: Callable[..., dict[str, int]],
    client: FlaskClient,
    runner: FlaskCliRunner,
    bridge: Bridge,
    simulator: FabmanSimulator,
    cron_headers: dict[str, str],
    clock: SettableClock,
) -> None:
    simulator.faults.down = True
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    assert only_event(bridge.store).status == "queued"
    flaky_fabman(simulator)
    earlier = len(clock.waits)

    summary = run_retry(client, runner, cron_headers)

    assert (summary["processed"], summary["applied"]) == (1, 1)
    assert member_reads(simulator)[:3] == [429, 503, 200]
    assert clock.waits[earlier] == pytest.approx(2.0)  # Fabman's 429 without Retry-After: 2 s, spent through the bridge's clock
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert only_event(bridge.store).status == "applied"


def replay_by_endpoint(client: FlaskClient, runner: FlaskCliRunner, api_headers: dict[str, str], event_id: int) -> dict[str, str]:
    response = client.post(f"/admin/events/{event_id}/replay", headers=api_headers)
    assert response.status_code == 200
    return dict(response.json)


def replay_by_cli(client: FlaskClient, runner: FlaskCliRunner, api_headers: dict[str, str], event_id: int) -> dict[str, str]:
    result = runner.invoke(args=["replay-event", str(event_id)])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


@pytest.mark.parametrize(
    "replay", [replay_by_endpoint, replay_by_cli], ids=["POST /admin/events/<id>/replay", "flask replay-event"]
)
def test_a_replay_waits_out_429_and_retries_503_whoever_starts_it(
    replay: Callable[..., dict[str, str]],
    client: FlaskClient,
    runner: FlaskCliRunner,
    bridge: Bridge,
    simulator: FabmanSimulator,
    cron_headers: dict[str, str],
    api_headers: dict[str, str],
    clock: SettableClock,
) -> None:
    simulator.faults.down = True
    deliver(client, result_payload(token(bridge, PETRA, LASER)))
    bridge.clock.advance(hours=49)  # past RETRY_MAX_AGE_HOURS: the retry job gives up
    client.post("/cron/retry", headers=cron_headers)
    event = only_event(bridge.store)
    assert event.status == "dead"
    flaky_fabman(simulator)
    earlier = len(clock.waits)

    receipt = replay(client, runner, api_headers, event.id)

    assert (receipt["status"], receipt["outcome"]) == ("applied", "granted")
    assert member_reads(simulator)[:3] == [429, 503, 200]
    assert clock.waits[earlier] == pytest.approx(2.0)
    assert len(course_records(simulator, PETRA, LASER)) == 1


def test_the_webhook_answers_without_fabman_and_its_result_is_applied_with_the_same_patience(
    make_app: Callable[..., Flask], simulator: FabmanSimulator
) -> None:
    app = make_app(TRACK_TIME="true")
    bridge = bridge_of(app)
    flaky_fabman(simulator)

    response = deliver(app.test_client(), result_payload(token(bridge, PETRA, LASER)))

    assert response.json["status"] == "accepted"
    assert response.headers["Server-Timing"].startswith("total;") and "fabman" not in response.headers["Server-Timing"]
    assert member_reads(simulator)[:3] == [429, 503, 200]
    assert only_event(bridge.store).status == "applied"
    assert len(course_records(simulator, PETRA, LASER)) == 1
