"""What staff do in the console, seen in Fabman, in the mail and in the staff log: replay a result, reset attempts."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import CNC, JAN, LASER, OWNER, PETRA, Morning, form_post, html, staff_log

pytestmark = pytest.mark.e2e


def test_replay_brings_a_dead_result_into_fabman_and_is_logged(
    staff: FlaskClient, morning: Morning, simulator: FabmanSimulator, bridge: Bridge, smtp: SmtpSink
) -> None:
    path = f"/staff/results/{morning.dead}"
    assert "Replay" in html(staff.get(path, headers={"Accept-Language": "en"}))
    assert [r for r in simulator.state.trainings_of(PETRA) if r["trainingCourse"] == LASER and "5001" in (r["notes"] or "")] == []

    answer = form_post(staff, path, f"{path}/replay")

    assert answer.status_code == 303 and answer.location == path
    assert bridge.event(morning.dead).status == "applied"
    assert [r for r in simulator.state.trainings_of(PETRA) if r["trainingCourse"] == LASER and "5001" in (r["notes"] or "")]
    assert smtp.to("petra.dvorakova@example.org")
    assert staff_log(bridge)[-1] == (OWNER, "replay", f"result:{morning.dead}")
    after = html(staff.get(path, headers={"Accept-Language": "en"}))
    assert "replayed: applied granted" in after and "staff: replay" in after


def test_reset_attempts_clears_them_in_fabman_and_is_logged(
    staff: FlaskClient, simulator: FabmanSimulator, bridge: Bridge
) -> None:
    path = f"/staff/members/{JAN}"

    answer = form_post(staff, path, f"{path}/reset", course_id=str(CNC))

    assert answer.status_code == 303 and answer.location == path
    failed = simulator.state.member(JAN)["metadata"]["courses_cm"]["failed_courses"]
    assert [entry["id"] for entry in failed] == [LASER]
    assert simulator.state.member(JAN)["metadata"]["other"] == "keep"
    assert staff_log(bridge)[-1] == (OWNER, "reset", f"member:{JAN}")
    page = html(staff.get(path, headers={"Accept-Language": "en"}))
    assert "Attempts of CNC frézka reset (were 3)." in page
    assert page.count("Reset attempts") == 1
