"""Staff judge, in the console, a result reconciliation could not (contract section 11: never guessed).

ClassMarker's results API (simulated on loopback) lists a result without
`passed` and without a pass mark; reconciliation stores it `needs_review` and
alerts staff. Its page in the console then offers Passed and Failed; the
verdict is applied like any result (Fabman, the member's mail) and kept in the
staff log.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.clock import SettableClock
from bridge.domain.statuses import EventStatus
from harness import CRON_TOKEN
from harness.classmarker import quiz_of
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount
from tests.console.conftest import OWNER, STAFF_EMAILS, csrf_token, form_post, sign_in, staff_log
from tests.support import text_of

pytestmark = pytest.mark.e2e

PETRA, JAN, LASER, CNC = 1, 2, 2, 4


@pytest.fixture
def app(reconciling: Callable[..., Flask], clock: SettableClock) -> Flask:
    return reconciling(clock, STAFF_EMAILS=STAFF_EMAILS, PUBLIC_URL="https://bridge.fablab.example")


def unjudged(client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, member_id: int, course_id: int) -> int:
    """A result ClassMarker lists without `passed` and without a pass mark, found by reconciliation: its event id."""
    account.take_quiz(
        bridge.codec.encode(member_id, course_id),
        quiz=quiz_of(course_id),
        percentage=95,
        api_omits={"passed", "percentage_passmark"},
    )
    summary = client.post("/cron/reconcile", headers={"CronjobToken": CRON_TOKEN}).json
    assert summary is not None and summary["needs_review"] == 1
    [event] = [e for e in bridge.store.inbox.events() if e.member_id == member_id and e.status == EventStatus.NEEDS_REVIEW]
    return event.id


def signed_in(client: FlaskClient, smtp: SmtpSink) -> None:
    """Sign in as the owner, in English from here on (the language cookie)."""
    sign_in(client, smtp, OWNER)
    client.get("/staff/?lang=en")


def records(simulator: FabmanSimulator, member_id: int, course_id: int) -> list[str]:
    return [str(r["notes"] or "") for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == course_id]


def test_staff_judge_a_result_as_passed_and_it_reaches_fabman_the_member_and_the_log(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    event_id = unjudged(client, bridge, account, PETRA, LASER)
    [alert] = [m for m in smtp.to("staff@fablab.example") if "needs review" in str(m["Subject"])]
    assert f"https://bridge.fablab.example/staff/results/{event_id}" in text_of(alert)
    signed_in(client, smtp)
    path = f"/staff/results/{event_id}"
    page = client.get(path).get_data(as_text=True)
    assert "Look the result up in ClassMarker" in page and 'value="passed"' in page and 'value="failed"' in page
    before = records(simulator, PETRA, LASER)

    answer = form_post(client, path, f"{path}/review", verdict="passed")

    assert answer.status_code == 303 and answer.location == path
    result_key = bridge.event(event_id).result_key
    assert bridge.event(event_id).status == EventStatus.APPLIED
    assert [n for n in records(simulator, PETRA, LASER) if n not in before and f"#{result_key}" in n]
    assert bridge.event(event_id).outcome == "granted"
    assert ["Training completed" in str(m["Subject"]) for m in smtp.to("petra.dvorakova@example.org")] == [True]
    assert staff_log(bridge)[-1] == (OWNER, "review", f"result:{event_id}")
    after = client.get(path).get_data(as_text=True)
    assert "reviewed and applied: applied granted" in after and "staff: reviewed" in after
    assert 'value="passed"' not in after


def test_a_failed_verdict_counts_an_attempt_and_a_second_verdict_changes_nothing(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    event_id = unjudged(client, bridge, account, JAN, CNC)
    signed_in(client, smtp)
    path = f"/staff/results/{event_id}"
    counted_before = simulator.state.member(JAN)["metadata"]["courses_cm"].get("counted_results", [])

    form_post(client, path, f"{path}/review", verdict="failed")
    again = form_post(client, path, f"{path}/review", verdict="passed")

    assert again.status_code == 303
    event = bridge.event(event_id)
    assert event.status == EventStatus.APPLIED and event.passed is False
    counted = simulator.state.member(JAN)["metadata"]["courses_cm"]["counted_results"]
    assert [str(r) for r in counted if r not in counted_before] == [event.result_key]  # one failed attempt, counted once
    subjects = [str(m["Subject"]) for m in smtp.to("jan.novak@example.org")]
    assert [s for s in subjects if "Quiz not passed" in s or "No attempts left" in s]
    assert not [n for n in records(simulator, JAN, CNC) if f"#{event.result_key}" in n]
    assert [row for row in staff_log(bridge) if row[1] == "review"] == [(OWNER, "review", f"result:{event_id}")]
    assert "is no longer waiting for a review" in client.get(path).get_data(as_text=True)


def test_a_verdict_other_than_passed_or_failed_is_a_400_and_nothing_changes(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, smtp: SmtpSink
) -> None:
    event_id = unjudged(client, bridge, account, PETRA, LASER)
    sign_in(client, smtp, OWNER)
    path = f"/staff/results/{event_id}"

    answer = form_post(client, path, f"{path}/review", verdict="maybe")
    missing = form_post(client, path, f"{path}/review")

    assert (answer.status_code, missing.status_code) == (400, 400)
    assert "verdict" in answer.get_data(as_text=True)
    assert bridge.event(event_id).status == EventStatus.NEEDS_REVIEW
    assert [row for row in staff_log(bridge) if row[1] == "review"] == []


def test_reviewing_needs_a_signed_in_staff_member_and_the_forms_token(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, smtp: SmtpSink
) -> None:
    event_id = unjudged(client, bridge, account, PETRA, LASER)
    path = f"/staff/results/{event_id}"

    token = csrf_token(client.get("/staff/login"))  # a valid form token, but nobody signed in
    anonymous = client.post(f"{path}/review", data={"verdict": "passed", "csrf_token": token})
    sign_in(client, smtp, OWNER)
    no_token = client.post(f"{path}/review", data={"verdict": "passed"})

    assert anonymous.status_code in (302, 303) and "/staff/login" in anonymous.location
    assert no_token.status_code == 400
    assert bridge.event(event_id).status == EventStatus.NEEDS_REVIEW
