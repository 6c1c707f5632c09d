"""The stale link: a quiz link from old mail used after the rules that made it were changed (contract 4.10).

A link is made when the member may take the course. Links live on in mail,
so when the result comes back the bridge asks again, as Fabman holds things
then: the course still online and active, an admin-only course still for an
admin or owner, the member still active, and the token not older than
`QUIZ_LINK_DAYS` when the quiz was started. Each attack here takes a link
while it was good, changes the world as staff would, then passes the quiz
through the link's own quiz: nothing may reach Fabman, the result is stored
rejected with the reason, staff hear once and the member gets one mail
saying why (with a fresh link when the course may still be taken).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.clock import SettableClock
from bridge.domain.statuses import EventStatus, RejectReason
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.support import text_of

PETRA, LUCIE = 1, 4
LASER, SUPERVISOR = 2, 9  # Petra's laser training expired; the workshop supervisor course is admin_only
MAIL = {PETRA: "petra.dvorakova@example.org", LUCIE: "lucie.cerna@example.org"}
STAFF = "staff@fablab.example"
SUBJECT = "Quiz result not counted"
LINK = re.compile(r"https://www\.classmarker\.com/online-test/start/\?quiz=\w+&cm_user_id=(\S+)")


def quiz_link(client: FlaskClient, api_key: str, member_id: int, course_id: int) -> str:
    """The token of the member's quiz link, as the profile page hands it out."""
    answer = client.post(
        "/get_training_links", json={"member_id": member_id, "training_id": course_id}, headers={"Authorization": api_key}
    )
    assert answer.status_code == 200 and answer.json["quiz_url"], answer.json
    return parse_qs(urlsplit(answer.json["quiz_url"]).query)["cm_user_id"][0]


def pass_quiz(client: FlaskClient, token: str, course_id: int, result_id: int, *, started: dt.datetime | None = None) -> int:
    """The member passes the course's own quiz through the link; the stored event's id."""
    payload: dict[str, Any] = result_payload(token, result_id=result_id, quiz=quiz_of(course_id))
    if started is not None:
        payload["result"]["time_started"] = int(started.timestamp())
        payload["result"]["time_finished"] = int(started.timestamp()) + 420
    body, headers = signed(payload)
    answer = client.post("/add_classmarker_training", data=body, headers=headers)
    assert answer.status_code == 200, answer.json
    return int(answer.json["event_id"])


def records(simulator: FabmanSimulator, member_id: int, course_id: int) -> list[dict[str, Any]]:
    return [t for t in simulator.state.trainings_of(member_id) if t["trainingCourse"] == course_id]


def refused(
    bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, event_id: int, member_id: int, reason: RejectReason
) -> str:
    """The result is rejected for `reason`, Fabman untouched, one staff alert; the text of the member's one mail."""
    event = bridge.event(event_id)
    assert (event.status, event.outcome) == (EventStatus.REJECTED, reason)
    assert [r for r in simulator.requests if r.method != "GET"] == []
    bridge.send_mail()
    assert len([m for m in smtp.to(STAFF) if "not counted" in str(m["Subject"])]) == 1
    [mail] = smtp.to(MAIL[member_id])
    assert SUBJECT in str(mail["Subject"])
    return text_of(mail)


STAFF_CHANGES: dict[str, Callable[[FabmanSimulator], None]] = {
    "made presence-only": lambda sim: sim.state.edit_course(
        LASER, metadata={"courses_cm": {**sim.state.course(LASER)["metadata"]["courses_cm"], "not_online": True}}
    ),
    "archived": lambda sim: sim.state.edit_course(LASER, state="archived"),
}


@pytest.mark.parametrize("change", STAFF_CHANGES, ids=str)
def test_a_link_to_a_course_since_taken_offline_grants_nothing(
    change: str, client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    token = quiz_link(client, simulator.api_key, PETRA, LASER)
    before = records(simulator, PETRA, LASER)
    STAFF_CHANGES[change](simulator)
    simulator.clear_requests()

    event_id = pass_quiz(client, token, LASER, 991001)

    text = refused(bridge, simulator, smtp, event_id, PETRA, RejectReason.COURSE_NOT_ONLINE)
    assert "can no longer be completed online" in text and "už nelze absolvovat online" in text
    assert "cm_user_id=" not in text  # no fresh link to a course that cannot be taken online
    assert records(simulator, PETRA, LASER) == before


def test_an_admin_only_link_after_the_member_lost_admin_grants_nothing(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    token = quiz_link(client, simulator.api_key, LUCIE, SUPERVISOR)
    simulator.state.set_privileges(LUCIE, "member")
    simulator.clear_requests()

    event_id = pass_quiz(client, token, SUPERVISOR, 991002)

    text = refused(bridge, simulator, smtp, event_id, LUCIE, RejectReason.ADMIN_ONLY)
    assert "administrators only" in text and "jen správcům" in text
    assert records(simulator, LUCIE, SUPERVISOR) == []


def test_a_locked_member_gets_no_training_from_an_old_link(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    token = quiz_link(client, simulator.api_key, PETRA, LASER)
    before = records(simulator, PETRA, LASER)
    simulator.state.set_member_state(PETRA, "locked")
    simulator.clear_requests()

    event_id = pass_quiz(client, token, LASER, 991003)

    text = refused(bridge, simulator, smtp, event_id, PETRA, RejectReason.MEMBER_NOT_ACTIVE)
    assert "membership is not active" in text
    assert records(simulator, PETRA, LASER) == before


def test_a_link_older_than_quiz_link_days_grants_nothing_and_the_mail_brings_a_fresh_one(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, clock: SettableClock
) -> None:
    """The link was mailed 91 days before the quiz was started (QUIZ_LINK_DAYS is 90)."""
    today = clock.now()
    clock.set(today - dt.timedelta(days=91))
    token = quiz_link(client, simulator.api_key, PETRA, LASER)
    clock.set(today)
    before = records(simulator, PETRA, LASER)
    simulator.clear_requests()

    event_id = pass_quiz(client, token, LASER, 991004, started=today - dt.timedelta(minutes=10))

    text = refused(bridge, simulator, smtp, event_id, PETRA, RejectReason.LINK_TOO_OLD)
    assert "more than 90 days old" in text and "starší než 90 dní" in text
    assert records(simulator, PETRA, LASER) == before
    fresh = {unquote(found) for found in LINK.findall(text)}
    assert len(fresh) == 1 and token not in fresh
    identity = bridge.codec.decode(fresh.pop())
    assert (identity.member_id, identity.course_id, identity.issued_at) == (PETRA, LASER, today.replace(microsecond=0))


def test_a_link_within_quiz_link_days_still_counts(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, clock: SettableClock
) -> None:
    """The control: 89 days old when the quiz was started, the same pass grants the training."""
    today = clock.now()
    clock.set(today - dt.timedelta(days=89))
    token = quiz_link(client, simulator.api_key, PETRA, LASER)
    clock.set(today)

    event_id = pass_quiz(client, token, LASER, 991005, started=today - dt.timedelta(minutes=10))

    assert bridge.event(event_id).outcome == "granted"
    assert any("ClassMarker result #991005." in str(r["notes"]) for r in records(simulator, PETRA, LASER))
