"""Staff tools: resetting attempts (endpoint and CLI) and inspecting events without leaking tokens."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import Bridge
from harness.classmarker import result_payload
from sandbox.simulator import FabmanSimulator
from tests.webhook.conftest import deliver, failed_courses, token, writes

JAN, LASER, CNC = 2, 2, 4
RESET = "/admin/reset_attempts"


def test_reset_attempts_clears_the_entry_and_keeps_everything_else(
    client: FlaskClient, simulator: FabmanSimulator, api_headers: dict[str, str]
) -> None:
    before = simulator.state.member(JAN)

    response = client.post(RESET, json={"member_id": JAN, "training_id": str(LASER)}, headers=api_headers)

    assert response.status_code == 200
    assert response.json == {"member_id": JAN, "training_id": LASER, "attempts_before": 3, "attempts": 0}
    after = simulator.state.member(JAN)
    assert failed_courses(simulator, JAN) == [{"id": CNC, "title": "CNC frézka", "attempts": 2}]
    assert after["metadata"]["other"] == "keep"
    assert after["lockVersion"] == before["lockVersion"] + 1
    available = client.post("/get_training_links", json={"member_id": JAN, "training_id": LASER}, headers=api_headers)
    assert available.json["attempts_left"] == 3 and available.json["quiz_url"]


def test_reset_attempts_without_an_entry_changes_nothing(
    client: FlaskClient, simulator: FabmanSimulator, api_headers: dict[str, str]
) -> None:
    response = client.post(RESET, json={"member_id": 1, "training_id": LASER}, headers=api_headers)

    assert response.json["attempts_before"] == 0
    assert writes(simulator) == []
    assert simulator.state.member(1)["metadata"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"training_id": LASER}, 400, "member_id"),
        ({"member_id": JAN}, 400, "training_id"),
        ({"member_id": "two", "training_id": LASER}, 422, "member_id"),
        ({"member_id": JAN, "training_id": -1}, 422, "training_id"),
        ({"member_id": True, "training_id": LASER}, 422, "member_id"),
    ],
)
def test_reset_attempts_names_the_bad_field(
    client: FlaskClient, simulator: FabmanSimulator, api_headers: dict[str, str], body: dict[str, object], status: int, field: str
) -> None:
    response = client.post(RESET, json=body, headers=api_headers)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert field in response.json["detail"]
    assert writes(simulator) == []


def test_reset_attempts_rejects_a_body_that_is_not_an_object(client: FlaskClient, api_headers: dict[str, str]) -> None:
    response = client.post(RESET, data="[1, 2]", headers={**api_headers, "Content-Type": "application/json"})

    assert response.status_code == 400


@pytest.mark.parametrize(("member_id", "course_id"), [(9999, LASER), (JAN, 999)])
def test_reset_attempts_of_an_unknown_member_or_course_is_404(
    client: FlaskClient, simulator: FabmanSimulator, api_headers: dict[str, str], member_id: int, course_id: int
) -> None:
    response = client.post(RESET, json={"member_id": member_id, "training_id": course_id}, headers=api_headers)

    assert response.status_code == 404
    assert response.json["status"] == 404
    assert writes(simulator) == []


def test_reset_attempts_needs_the_api_key(client: FlaskClient, simulator: FabmanSimulator) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.post(RESET, json={"member_id": JAN, "training_id": LASER}, headers=headers)
        assert response.status_code == 401
    assert simulator.requests == []


def test_reset_attempts_from_the_cli(runner: FlaskCliRunner, simulator: FabmanSimulator) -> None:
    result = runner.invoke(args=["reset-attempts", str(JAN), str(CNC)])

    assert result.exit_code == 0, result.output
    assert '"attempts_before": 2' in result.output
    assert failed_courses(simulator, JAN) == [{"id": LASER, "title": "Laserová řezačka", "attempts": 3}]
    assert simulator.state.member(JAN)["metadata"]["other"] == "keep"


def test_events_are_listed_and_shown_without_payload_or_cm_user_id(
    client: FlaskClient, runner: FlaskCliRunner, bridge: Bridge, api_headers: dict[str, str]
) -> None:
    cm_user_id = token(bridge, 1, LASER)
    rejected = "gAAAAAB" + "forged-token" * 6
    deliver(client, result_payload(cm_user_id))
    deliver(client, result_payload(rejected, result_id=555))

    listed = client.get("/admin/events", headers=api_headers)
    shown = client.get("/admin/events/1", headers=api_headers)
    only_rejected = client.get("/admin/events?status=rejected", headers=api_headers)
    cli = runner.invoke(args=["show-event", "2"])

    assert [(e["id"], e["status"]) for e in listed.json] == [(2, "rejected"), (1, "applied")]
    assert (shown.json["result_id"], shown.json["member_id"], shown.json["course_id"]) == ("88123401", 1, LASER)
    assert [e["id"] for e in only_rejected.json] == [2]
    for text in (listed.get_data(as_text=True), shown.get_data(as_text=True), cli.output):
        assert cm_user_id not in text and rejected not in text
        assert "payload" not in text and "203.0.113.7" not in text
    assert client.get("/admin/events/99", headers=api_headers).status_code == 404
    assert client.get("/admin/events", headers={}).status_code == 401
    for unreadable in ("bogus", ""):
        refused = client.get(f"/admin/events?status={unreadable}", headers=api_headers)
        assert (refused.status_code, refused.json["title"]) == (400, "Bad request")
        allowed = "queued, applied, rejected, error, dead, awaiting_grading"
        assert f"query parameter 'status' must be one of {allowed}" in refused.json["detail"]


@pytest.mark.parametrize(
    "args",
    [
        ["show-event", "99999999999999999999"],
        ["replay-event", "0"],
        ["reset-attempts", "1", "4294967296"],
        ["quiz-link", "0", "2"],
    ],
)
def test_cli_refuses_ids_out_of_range_with_a_usage_error(runner: FlaskCliRunner, args: list[str]) -> None:
    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert "Traceback" not in result.output
