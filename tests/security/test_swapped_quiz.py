"""The swapped token: a member pastes one course's `cm_user_id` onto another quiz's start URL (contract 4.10).

Petra's quiz link of the laser cutter carries her laser token. She opens the
start URL of the easiest quiz (workshop safety) with that token pasted in,
passes it, and ClassMarker sends a genuine, correctly signed result whose
`link.link_url_id` is the safety quiz. Before rule 4.10 the bridge granted
her the laser cutter. Now the result is stored rejected (wrong quiz), staff
get one alert naming the course and both quiz keys, Petra gets one mail
saying why, and Fabman is not written to at all; the same holds when the
result comes by reconciliation, and when staff replay it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from bridge.domain.statuses import EventStatus
from harness import CRON_TOKEN
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator
from tests.console.conftest import OWNER, sign_in
from tests.support import text_of

PETRA, SAFETY, LASER = 1, 1, 2
PETRA_MAIL = "petra.dvorakova@example.org"
STAFF = "staff@fablab.example"
WEBHOOK = "/add_classmarker_training"


def laser_token(client: FlaskClient, api_key: str) -> str:
    """Petra's laser token, taken from the quiz link her profile page shows her."""
    links = client.post(
        "/get_training_links", json={"member_id": PETRA, "training_id": LASER}, headers={"Authorization": api_key}
    )
    assert links.status_code == 200, links.json
    return parse_qs(urlsplit(links.json["quiz_url"]).query)["cm_user_id"][0]


def writes(simulator: FabmanSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in simulator.requests if r.method != "GET"]


def laser_records(simulator: FabmanSimulator) -> list[dict[str, object]]:
    return [t for t in simulator.state.trainings_of(PETRA) if t["trainingCourse"] == LASER]


def post_result(client: FlaskClient, payload: dict[str, object]) -> TestResponse:
    body, headers = signed(payload)
    return client.post(WEBHOOK, data=body, headers=headers)


def assert_not_counted(bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, event_id: int, before: object) -> None:
    """Rejected as wrong quiz, Fabman untouched, one alert with both keys, one mail to Petra."""
    event = bridge.event(event_id)
    assert (event.status, event.outcome) == (EventStatus.REJECTED, "wrong_quiz")
    assert quiz_of(SAFETY) in (event.last_error or "") and quiz_of(LASER) in (event.last_error or "")
    assert writes(simulator) == []
    assert laser_records(simulator) == before
    assert simulator.state.member(PETRA)["metadata"] is None  # no attempt counted: her metadata stays null
    bridge.send_mail()
    [alert] = [m for m in smtp.to(STAFF) if "not counted" in str(m["Subject"])]
    alert_text = text_of(alert)
    assert quiz_of(SAFETY) in alert_text and quiz_of(LASER) in alert_text and f"course {LASER}" in alert_text
    [mail] = [m for m in smtp.to(PETRA_MAIL)]
    assert "Quiz result not counted" in str(mail["Subject"])
    assert "a different quiz than the one your personal link was made for" in text_of(mail)
    assert "z jiného testu" in text_of(mail)


def test_the_laser_token_on_the_safety_quiz_grants_no_laser_training(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    token = laser_token(client, simulator.api_key)
    before = laser_records(simulator)
    simulator.clear_requests()

    swapped = result_payload(token, result_id=990001, quiz=quiz_of(SAFETY), test_name="Bezpečnost v dílně")
    response = post_result(client, swapped)

    assert response.status_code == 200
    assert_not_counted(bridge, simulator, smtp, response.json["event_id"], before)


def test_a_staff_replay_of_the_swapped_result_is_refused_the_same_way(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, app: Flask
) -> None:
    """Console and CLI replay take the same path (Bridge.replay): the replay meets the same rule, and no second alert."""
    token = laser_token(client, simulator.api_key)
    before = laser_records(simulator)
    event_id = post_result(client, result_payload(token, result_id=990002, quiz=quiz_of(SAFETY))).json["event_id"]
    simulator.clear_requests()

    replayed = app.test_cli_runner().invoke(args=["replay-event", str(event_id)])

    assert replayed.exit_code == 0, replayed.output
    assert '"wrong_quiz"' in replayed.output
    assert_not_counted(bridge, simulator, smtp, event_id, before)


def test_a_result_without_link_url_id_is_not_applied(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    """Either key missing is a wrong quiz: a result that does not say its quiz never counts."""
    token = laser_token(client, simulator.api_key)
    before = laser_records(simulator)
    simulator.clear_requests()

    response = post_result(client, result_payload(token, result_id=990003, quiz=None))

    event = bridge.event(response.json["event_id"])
    assert (event.status, event.outcome) == (EventStatus.REJECTED, "wrong_quiz")
    assert writes(simulator) == [] and laser_records(simulator) == before


def test_the_same_result_through_the_laser_quiz_is_granted(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator
) -> None:
    """The control: taken through the laser quiz's own link, the same pass grants the laser cutter."""
    token = laser_token(client, simulator.api_key)

    response = post_result(client, result_payload(token, result_id=990004, quiz=quiz_of(LASER)))

    assert bridge.event(response.json["event_id"]).outcome == "granted"
    assert any("ClassMarker result #990004." in str(t["notes"]) for t in laser_records(simulator))


# -- the same attack, found by reconciliation --------------------------------------------------


@pytest.fixture
def polling(reconciling: Callable[..., Flask], clock: SettableClock) -> Flask:
    return reconciling(clock)


@pytest.mark.e2e
def test_a_polled_swapped_result_grants_nothing(
    polling: Flask,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
) -> None:
    """Its webhook was lost; ClassMarker's API lists it with its link, whose link_url_id is the safety quiz."""
    client, bridge = polling.test_client(), bridge_of(polling)
    token = laser_token(client, simulator.api_key)
    before = laser_records(simulator)
    account.take_quiz(token, quiz=quiz_of(SAFETY), test={"test_name": "Bezpečnost v dílně"})
    simulator.clear_requests()

    summary = client.post("/cron/reconcile", headers={"CronjobToken": CRON_TOKEN}).json

    assert (summary["new"], summary["applied"], summary["rejected"]) == (1, 0, 1)
    [event] = bridge.store.inbox.events()
    assert event.source == "poll"
    assert_not_counted(bridge, simulator, smtp, event.id, before)


@pytest.mark.e2e
def test_a_polled_swapped_result_is_held_to_its_quiz_through_the_accounts_links(
    polling: Flask,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
) -> None:
    """The listing leaves its `links` out; GET /v1.json names the link's link_url_id: the safety quiz."""
    client, bridge = polling.test_client(), bridge_of(polling)
    token = laser_token(client, simulator.api_key)
    before = laser_records(simulator)
    account.take_quiz(token, quiz=quiz_of(SAFETY))
    classmarker.list_links = False
    simulator.clear_requests()

    summary = client.post("/cron/reconcile", headers={"CronjobToken": CRON_TOKEN}).json

    assert (summary["new"], summary["applied"], summary["rejected"]) == (1, 0, 1)
    assert [r.path for r in classmarker.requests].count("/v1.json") == 1
    [event] = bridge.store.inbox.events()
    assert_not_counted(bridge, simulator, smtp, event.id, before)


@pytest.mark.e2e
def test_a_polled_result_whose_quiz_cannot_be_told_needs_review_and_is_never_applied(
    polling: Flask,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
) -> None:
    """Neither the listing nor the account's links (GET /v1.json) give the link_url_id: staff look; nothing is guessed."""
    client, bridge = polling.test_client(), bridge_of(polling)
    token = laser_token(client, simulator.api_key)
    before = laser_records(simulator)
    account.take_quiz(token, quiz=quiz_of(SAFETY))
    classmarker.list_links = classmarker.describe_links = False
    simulator.clear_requests()

    summary = client.post("/cron/reconcile", headers={"CronjobToken": CRON_TOKEN}).json

    assert (summary["new"], summary["applied"], summary["needs_review"]) == (1, 0, 1)
    [event] = bridge.store.inbox.events()
    assert event.status == EventStatus.NEEDS_REVIEW
    assert writes(simulator) == [] and laser_records(simulator) == before
    bridge.send_mail()
    [alert] = [m for m in smtp.to(STAFF) if "needs review" in str(m["Subject"])]
    assert "link_url_id" in text_of(alert)


def test_staff_see_why_in_the_admin_api_and_the_console(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    token = laser_token(client, simulator.api_key)
    event_id = post_result(client, result_payload(token, result_id=990005, quiz=quiz_of(SAFETY))).json["event_id"]

    shown = client.get(f"/admin/events/{event_id}", headers={"Authorization": simulator.api_key}).json
    assert (shown["status"], shown["outcome"]) == ("rejected", "wrong_quiz")
    assert quiz_of(SAFETY) in shown["reason"] and quiz_of(LASER) in shown["reason"]
    assert token not in str(shown)

    sign_in(client, smtp, OWNER)
    page = client.get(f"/staff/results/{event_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    listed = client.get("/staff/results?status=rejected", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Why it was rejected" in page and quiz_of(SAFETY) in page and quiz_of(LASER) in page
    assert "wrong quiz for the course" in page and "wrong quiz for the course" in listed
