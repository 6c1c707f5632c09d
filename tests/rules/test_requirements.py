"""Contract section 15, courses that build on each other: checked at link time and again when a result is applied.

The seed's vacuum former (course 12) requires the workshop safety course (1).
Eva (6) holds no safety training; Petra (1) holds one that began 100 days
ago. Results go through the webhook in process (the mail through the SMTP sink).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.domain.calendar import today_in
from bridge.services import console
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.rules.conftest import PRAGUE, STAFF, mail_to
from tests.support import text_of

PETRA, EVA = 1, 6
PETRA_MAIL, EVA_MAIL = "petra.dvorakova@example.org", "eva.kucerova@example.org"
SAFETY, VACUUM = 1, 12


def deliver(client: FlaskClient, bridge: Bridge, member_id: int, result_id: int, *, passed: bool, finished: dt.datetime) -> int:
    payload = result_payload(bridge.codec.encode(member_id, VACUUM), result_id=result_id, passed=passed, quiz=quiz_of(VACUUM))
    payload["result"]["time_started"] = int(finished.timestamp()) - 420
    payload["result"]["time_finished"] = int(finished.timestamp())
    body, headers = signed(payload)
    answer = client.post("/add_classmarker_training", data=body, headers=headers)
    assert answer.status_code == 200, answer.json
    return int(answer.json["event_id"])


def vacuum_records(simulator: FabmanSimulator, member_id: int) -> list[dict[str, Any]]:
    return [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == VACUUM]


def test_links_are_withheld_until_the_required_course_is_held(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator, bridge: Bridge
) -> None:
    assert VACUUM not in {item["id"] for item in client.get(f"/available_trainings/{EVA}", headers=api_headers).json}
    links = client.post("/get_training_links", json={"member_id": EVA, "training_id": VACUUM}, headers=api_headers).json
    assert (links["quiz_url"], links["missing"], links["attempts_left"]) == (None, [SAFETY], 3)

    today = today_in(PRAGUE)
    simulator.state.add_training(EVA, SAFETY, today.isoformat(), (today + dt.timedelta(days=365)).isoformat())

    assert VACUUM in {item["id"] for item in client.get(f"/available_trainings/{EVA}", headers=api_headers).json}
    links = client.post("/get_training_links", json={"member_id": EVA, "training_id": VACUUM}, headers=api_headers).json
    assert links["quiz_url"] is not None and links["missing"] == []


def test_a_pass_without_the_required_course_grants_nothing_until_staff_replay_it_once_it_is_held(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    event_id = deliver(client, bridge, EVA, 7101, passed=True, finished=dt.datetime.now(dt.UTC))

    event = bridge.store.inbox.get(event_id)
    assert event is not None and (event.status, event.outcome) == ("rejected", "missing_requirement")
    assert vacuum_records(simulator, EVA) == []
    [mail] = mail_to(smtp, EVA_MAIL, "Another training first")
    assert '"Workshop safety"' in text_of(mail) and "„Bezpečnost v dílně“" in text_of(mail)
    [alert] = mail_to(smtp, STAFF, "Pass held: a required course is missing")
    assert f"flask replay-event {event_id}" in text_of(alert)

    bridge.replay(event_id)  # still without safety: held again, nothing written
    assert vacuum_records(simulator, EVA) == []

    today = today_in(PRAGUE)
    simulator.state.add_training(EVA, SAFETY, today.isoformat(), (today + dt.timedelta(days=365)).isoformat())
    receipt = bridge.replay(event_id)

    assert (receipt.status, receipt.outcome) == ("applied", "granted")
    [record] = vacuum_records(simulator, EVA)
    assert "7101" in record["notes"]
    assert [row.course_id for row in bridge.store.ledger.entries(member_id=EVA)] == [VACUUM]


def test_a_fail_without_the_required_course_is_not_counted(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    event_id = deliver(client, bridge, EVA, 7102, passed=False, finished=dt.datetime.now(dt.UTC))

    event = bridge.store.inbox.get(event_id)
    assert event is not None and (event.status, event.outcome) == ("applied", "requirement_not_counted")
    assert simulator.state.member(EVA)["metadata"]["courses_cm"]["failed_courses"] == []
    [mail] = mail_to(smtp, EVA_MAIL, "Another training first")
    assert "This attempt is not counted against your attempts." in text_of(mail)


def test_the_required_course_must_have_been_held_when_the_quiz_finished(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator
) -> None:
    before_safety = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)  # her safety training began 100 days ago
    held_back = deliver(client, bridge, PETRA, 7103, passed=True, finished=before_safety)
    granted = deliver(client, bridge, PETRA, 7104, passed=True, finished=dt.datetime.now(dt.UTC))

    assert bridge.store.inbox.get(held_back).outcome == "missing_requirement"  # type: ignore[union-attr]
    assert bridge.store.inbox.get(granted).outcome == "granted"  # type: ignore[union-attr]
    [record] = vacuum_records(simulator, PETRA)
    assert "7104" in record["notes"]


@pytest.mark.parametrize(("requires", "why"), [([99], "requires unknown course(s) 99"), ([5], "cycle: 12 -> 5 -> 12")])
def test_unmeetable_requirements_make_the_course_unavailable_and_are_on_the_console_overview(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, api_headers: dict[str, str], requires: list[int], why: str
) -> None:
    vinyl = simulator.state.course(5)
    simulator.state.update_course(5, metadata={"courses_cm": {**vinyl["metadata"]["courses_cm"], "requires": [VACUUM]}})
    simulator.state.update_course(
        12,
        metadata={
            "courses_cm": {"cm_url": "https://www.classmarker.com/online-test/start/?quiz=vkf3d5a9e2c48", "requires": requires}
        },
    )
    bridge.fabman.forget_courses()

    assert VACUUM not in {item["id"] for item in client.get(f"/available_trainings/{PETRA}", headers=api_headers).json}
    links = client.post("/get_training_links", json={"member_id": PETRA, "training_id": VACUUM}, headers=api_headers).json
    assert links["quiz_url"] is None and links["missing"] == requires
    overview = {item["id"]: item for item in client.get(f"/training_overview/{PETRA}", headers=api_headers).json}
    assert overview[VACUUM]["state"] == "needs_prerequisite"
    assert overview[VACUUM]["next_step"]["en"] == "The course cannot be taken online now, ask staff."
    problems = console.pages.overview(bridge.deps).requirement_problems
    assert any(course_id == VACUUM and why in text for course_id, _, text in problems)
    event_id = deliver(client, bridge, PETRA, 7105, passed=True, finished=dt.datetime.now(dt.UTC))
    assert bridge.store.inbox.get(event_id).outcome == "missing_requirement"  # type: ignore[union-attr]
    assert vacuum_records(simulator, PETRA) == []
