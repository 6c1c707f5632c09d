"""Staff rights are checked while they are used, not only when the sign-in link is mailed (issue 18).

The attack: an admin signs in to the console, loses `admin` in Fabman (or
their address leaves STAFF_EMAILS), and keeps using the session, above all
to POST (reset attempts, replay). Before the fix the session lived on for
STAFF_SESSION_HOURS and every POST took effect. Now the holder is confirmed
at most every 5 minutes for pages and before every state-changing POST; the
session ends as soon as the answer is no, and the POST changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.clock import SettableClock
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import ADMIN, LISTED, STAFF_EMAILS, csrf_token, sign_in, staff_log

JAN, CNC = 2, 4
"""Jan Novák has 2 failed attempts at the CNC course in the sample data."""


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: SettableClock) -> Flask:
    return make_app(clock=clock, STAFF_EMAILS=STAFF_EMAILS)


def member_id_of(simulator: FabmanSimulator, email: str) -> int:
    return next(int(member["id"]) for member in simulator.state.members() if member.get("emailAddress") == email)


def failed_courses(simulator: FabmanSimulator) -> list[int]:
    return [entry["id"] for entry in simulator.state.member(JAN)["metadata"]["courses_cm"]["failed_courses"]]


def signed_in(client: FlaskClient) -> bool:
    return client.get("/staff/").status_code == 200


def test_a_demoted_admin_posting_at_once_changes_nothing_and_the_session_ends(
    client: FlaskClient, smtp: SmtpSink, simulator: FabmanSimulator, bridge: Bridge
) -> None:
    sign_in(client, smtp, ADMIN)
    token = csrf_token(client.get(f"/staff/members/{JAN}"))
    before = failed_courses(simulator)
    assert CNC in before

    simulator.state.set_privileges(member_id_of(simulator, ADMIN), "member")
    answer = client.post(f"/staff/members/{JAN}/reset", data={"course_id": str(CNC), "csrf_token": token})
    replay = client.post("/staff/results/1/replay", data={"csrf_token": token})

    assert answer.status_code == 303 and answer.location.startswith("/staff/login")
    assert replay.status_code == 303 and replay.location.startswith("/staff/login")
    assert failed_courses(simulator) == before
    assert not signed_in(client)
    assert [action for _, action, _ in staff_log(bridge)] == ["sign-in", "session-ended"]


def test_a_demoted_admin_only_reading_is_signed_out_within_5_minutes(
    client: FlaskClient, smtp: SmtpSink, simulator: FabmanSimulator, clock: SettableClock
) -> None:
    sign_in(client, smtp, ADMIN)
    simulator.state.set_privileges(member_id_of(simulator, ADMIN), "member")

    clock.advance(minutes=5)
    answer = client.get("/staff/results")

    assert answer.status_code == 302 and answer.location.startswith("/staff/login")
    assert not signed_in(client)


def test_an_admin_who_keeps_the_rights_stays_signed_in_past_the_check(
    client: FlaskClient, smtp: SmtpSink, simulator: FabmanSimulator, clock: SettableClock
) -> None:
    sign_in(client, smtp, ADMIN)
    for _ in range(3):
        clock.advance(minutes=5, seconds=1)
        assert signed_in(client)


def test_an_address_taken_out_of_staff_emails_loses_its_session(
    make_app: Callable[..., Flask], app: Flask, smtp: SmtpSink, clock: SettableClock, simulator: FabmanSimulator
) -> None:
    before_restart = app.test_client()
    sign_in(before_restart, smtp, LISTED)
    token = csrf_token(before_restart.get(f"/staff/members/{JAN}"))
    cookie = before_restart.get_cookie("fablab_staff", path="/staff")
    assert cookie is not None

    restarted = make_app(clock=clock, STAFF_EMAILS=None).test_client()  # the operator removed the address
    restarted.set_cookie("fablab_staff", cookie.value, path="/staff")
    answer = restarted.post(f"/staff/members/{JAN}/reset", data={"course_id": str(CNC), "csrf_token": token})

    assert answer.status_code == 303 and answer.location.startswith("/staff/login")
    assert CNC in failed_courses(simulator)
    assert not signed_in(restarted)


def test_a_post_fabman_cannot_confirm_changes_nothing_and_keeps_the_session(
    client: FlaskClient, smtp: SmtpSink, simulator: FabmanSimulator
) -> None:
    sign_in(client, smtp, ADMIN)
    token = csrf_token(client.get(f"/staff/members/{JAN}"))
    simulator.faults.down = True  # type: ignore[attr-defined]

    answer = client.post(f"/staff/members/{JAN}/reset", data={"course_id": str(CNC), "csrf_token": token})

    simulator.faults.down = False  # type: ignore[attr-defined]
    assert answer.status_code == 503
    assert "cannot confirm your rights" in answer.get_json()["detail"]
    assert CNC in failed_courses(simulator)
    assert signed_in(client)


def test_signing_out_ends_the_session_on_the_server_for_a_copied_cookie(app: Flask, smtp: SmtpSink, bridge: Bridge) -> None:
    client = app.test_client()
    sign_in(client, smtp, ADMIN)
    stolen = client.get_cookie("fablab_staff", path="/staff")
    assert stolen is not None

    client.post("/staff/logout", data={"csrf_token": csrf_token(client.get("/staff/"))})
    thief = app.test_client()
    thief.set_cookie("fablab_staff", stolen.value, path="/staff")

    assert not signed_in(thief)
    with bridge.store.database.engine.connect() as connection:
        ended = connection.exec_driver_sql("SELECT ended_at FROM staff_sessions").scalars().all()
    assert len(ended) == 1 and ended[0] is not None
