"""Contract 4.4-4.9: what a result does in Fabman, in the member's mailbox, for staff and in the store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import Bridge
from harness import WEBHOOK_SECRET
from harness.classmarker import quiz_of, result_payload
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.support import text_of
from tests.webhook.conftest import (
    STAFF,
    DiscordSink,
    course_records,
    deliver,
    failed_courses,
    only_event,
    set_failed,
    settled,
    table_counts,
    today,
    token,
    writes,
    years_later,
)

PETRA, JAN, EVA, MARKETA = 1, 2, 6, 12
SAFETY, LASER, PRINTER, CNC = 1, 2, 3, 4
COURSES_WEB_KEY = "courses-key"


def member_mail(smtp: SmtpSink, address: str) -> str:
    mails = smtp.to(address)
    assert len(mails) == 1, [m["Subject"] for m in mails]
    return f"{mails[0]['Subject']}\n{text_of(mails[0])}"


def staff_alert(smtp: SmtpSink, discord: DiscordSink) -> tuple[str, str]:
    mails = smtp.to(STAFF)
    assert len(mails) == 1, [m["Subject"] for m in mails]
    assert len(discord.posts) == 1
    return f"{mails[0]['Subject']}\n{text_of(mails[0])}", discord.contents[0]


def assert_nothing_secret(text: str, bridge: Bridge, cm_user_id: str) -> None:
    assert cm_user_id not in text
    assert cm_user_id[10:40] not in text
    for secret in (WEBHOOK_SECRET, bridge.settings.fabman_api_key, *bridge.settings.fernet_keys, COURSES_WEB_KEY):
        assert secret not in text


# -- 4.4 loose types -----------------------------------------------------------


def test_loose_types_are_coerced(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator) -> None:
    payload = result_payload(token(bridge, PETRA, LASER), result_id="88123499", percentage=80.0)
    payload["result"].update(points_scored="8", points_available="10", time_started="1763712000", percentage_passmark="80")
    payload["test"]["test_id"] = "2044187"

    response = deliver(client, payload)

    assert response.json == {"status": "accepted", "event_id": 1, "detail": "stored; being applied now"}
    assert settled(bridge, response).outcome == "granted"
    [record] = course_records(simulator, PETRA, LASER)
    assert "ClassMarker result #88123499." in record["notes"]
    assert "80 %" in record["notes"]
    [entry] = bridge.store.ledger.entries()
    assert (entry.result_id, entry.quiz_id, entry.percentage, entry.percentage_passmark) == ("88123499", "2044187", 80.0, 80.0)
    assert (entry.points_scored, entry.points_available) == (8.0, 10.0)


# -- 4.5 grading ---------------------------------------------------------------


def test_result_awaiting_grading_is_stored_but_only_the_graded_resend_counts(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    cm_user_id = token(bridge, PETRA, LASER)

    ungraded = deliver(client, result_payload(cm_user_id, requires_grading="Yes"))
    again = deliver(client, result_payload(cm_user_id, requires_grading="Yes"))

    assert ungraded.status_code == 200 and ungraded.json["status"] == "ignored"
    assert again.json["status"] == "duplicate"
    assert [e.status for e in bridge.store.inbox.events()] == ["awaiting_grading"]
    assert simulator.requests == []
    assert smtp.messages == []

    graded = deliver(client, result_payload(cm_user_id, requires_grading="No"))

    assert settled(bridge, graded).status == "applied"
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert "Školení splněno" in member_mail(smtp, "petra.dvorakova@example.org")
    assert sorted(e.status for e in bridge.store.inbox.events()) == ["applied", "awaiting_grading"]


# -- 4.6 rejected --------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda bridge: "gAAAAAB" + "not-a-real-token" * 5, "decrypt"),
        (lambda bridge: bridge.codec.encode(9999, LASER), "member 9999"),
        (lambda bridge: bridge.codec.encode(PETRA, 999), "course 999"),
    ],
    ids=["bad-token", "unknown-member", "unknown-course"],
)
def test_unusable_result_is_stored_rejected_and_staff_are_alerted(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    discord: DiscordSink,
    make_token: Callable[[Bridge], str],
    reason: str,
) -> None:
    cm_user_id = make_token(bridge)
    petra_records = simulator.state.trainings_of(PETRA)

    response = deliver(client, result_payload(cm_user_id))

    assert response.status_code == 200
    # A token that does not decrypt is refused before the answer; an unknown member or course once Fabman says so.
    assert response.json["status"] == ("rejected" if reason == "decrypt" else "accepted")
    assert bridge.store.inbox.get(response.json["event_id"]).status == "rejected"  # type: ignore[union-attr]
    event = only_event(bridge.store)
    assert event.status == "rejected"
    assert reason in (event.last_error or "")
    assert writes(simulator) == []
    assert simulator.state.trainings_of(PETRA) == petra_records
    mail, chat = staff_alert(smtp, discord)
    assert smtp.to("petra.dvorakova@example.org") == []
    for text in (mail, chat):
        assert "rejected" in text
        assert f"Event {event.id} was not applied" in text
        assert_nothing_secret(text, bridge, cm_user_id)
    assert table_counts(bridge.store)["training_ledger"] == 0


# -- 4.7 failed quiz -----------------------------------------------------------


def test_first_failure_creates_the_entry_at_one_and_keeps_other_metadata(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    before = simulator.state.member(MARKETA)

    response = deliver(client, result_payload(token(bridge, MARKETA, SAFETY), quiz=quiz_of(SAFETY), passed=False, percentage=40))

    assert (settled(bridge, response).status, settled(bridge, response).outcome) == ("applied", "failed")
    after = simulator.state.member(MARKETA)
    assert after["lockVersion"] == before["lockVersion"] + 1
    assert after["metadata"]["newsletter"] is True
    assert failed_courses(simulator, MARKETA) == [{"id": SAFETY, "title": "Bezpečnost v dílně", "attempts": 1}]
    assert simulator.state.trainings_of(MARKETA) == []
    text = member_mail(smtp, "marketa.pospisilova@example.org")
    assert "Test nesplněn: Bezpečnost v dílně / Quiz not passed: Workshop safety" in text
    assert "Zbývají vám ještě 2 pokusy" in text
    assert "You have 2 attempts left" in text
    assert "40 %" in text and "40%" in text
    assert "cm_user_id=" in text
    assert only_event(bridge.store).outcome == "failed"


def test_failure_counts_one_more_and_touches_nothing_else(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    response = deliver(client, result_payload(token(bridge, JAN, CNC), quiz=quiz_of(CNC), passed=False))

    assert settled(bridge, response).outcome == "failed"
    metadata = simulator.state.member(JAN)["metadata"]
    assert metadata["other"] == "keep"
    assert failed_courses(simulator, JAN) == [
        {"id": CNC, "title": "CNC frézka", "attempts": 3},
        {"id": LASER, "title": "Laserová řezačka", "attempts": 3},
    ]
    text = member_mail(smtp, "jan.novak@example.org")
    assert "Zbývají vám ještě 2 pokusy" in text and "You have 2 attempts left" in text


def test_conflicting_update_is_reread_and_retried(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    simulator.faults.fail_next(1, 409, method="PUT")

    response = deliver(client, result_payload(token(bridge, JAN, CNC), quiz=quiz_of(CNC), passed=False))

    assert settled(bridge, response).outcome == "failed"
    assert [(m, s) for m, _, s in writes(simulator)] == [("PUT", 409), ("PUT", 200)]
    assert [e["attempts"] for e in failed_courses(simulator, JAN) if e["id"] == CNC] == [3]
    assert "Zbývají vám ještě 2 pokusy" in member_mail(smtp, "jan.novak@example.org")


def test_last_attempt_sends_the_out_of_attempts_mail_with_the_personal_link(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    set_failed(simulator, EVA, SAFETY, 2)

    response = deliver(client, result_payload(token(bridge, EVA, SAFETY), quiz=quiz_of(SAFETY), passed=False))

    assert settled(bridge, response).outcome == "out_of_attempts"
    assert failed_courses(simulator, EVA) == [{"id": SAFETY, "title": "Bezpečnost v dílně", "attempts": 3}]
    text = member_mail(smtp, "eva.kucerova@example.org")
    key = hashlib.sha512(f"{EVA}{COURSES_WEB_KEY}".encode()).hexdigest()
    assert f"https://courses.fablab.example/member?id={EVA}&key={key}" in text
    assert "Vyčerpané pokusy" in text and "No attempts left" in text
    assert "vyčerpali všechny povolené pokusy (celkem 3)" in text
    assert "used up all 3 allowed attempts" in text
    assert STAFF in text
    assert "cm_user_id=" not in text


# -- 4.8 passed quiz -----------------------------------------------------------


def test_pass_creates_the_record_then_removes_older_ones_and_mails_the_member(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    [expired] = course_records(simulator, PETRA, LASER)

    response = deliver(client, result_payload(token(bridge, PETRA, LASER), percentage=90))

    assert (settled(bridge, response).status, settled(bridge, response).outcome) == ("applied", "granted")
    [record] = course_records(simulator, PETRA, LASER)
    assert record["id"] != expired["id"]
    day = today()
    assert (record["date"], record["fromDate"], record["untilDate"]) == (
        day.isoformat(),
        day.isoformat(),
        years_later(day, 1).isoformat(),
    )
    assert "Laser cutter - safety" in record["notes"] and "90 %" in record["notes"] and "#88123401" in record["notes"]
    assert simulator.state.member(PETRA)["metadata"] is None
    assert [m for m, _, _ in writes(simulator)] == ["POST", "DELETE"]
    text = member_mail(smtp, "petra.dvorakova@example.org")
    until = years_later(day, 1)
    assert "Školení splněno: Laserová řezačka / Training completed: Laser cutter" in text
    assert f"Školení platí do {until.day}. {until.month}. {until.year}" in text
    assert "The training is valid until" in text
    [entry] = bridge.store.ledger.entries()
    assert (entry.member_id, entry.course_id, entry.fabman_record_id) == (PETRA, LASER, record["id"])
    assert (entry.quiz_name, entry.percentage, entry.result_id) == ("Laser cutter - safety", 90.0, "88123401")
    assert entry.time_started is not None and entry.time_finished is not None
    assert entry.evidence["result_id"] == "88123401"
    assert entry.training_date == day.isoformat() and entry.until_date == until.isoformat()
    assert only_event(bridge.store).status == "applied"


def test_pass_order_is_create_then_delete_older_then_clear_the_failed_entry(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator
) -> None:
    martin = 5
    set_failed(simulator, martin, LASER, 1)
    older = {r["id"] for r in course_records(simulator, martin, LASER)}
    assert len(older) == 2

    deliver(client, result_payload(token(bridge, martin, LASER)))

    sequence = writes(simulator)
    assert [m for m, _, _ in sequence] == ["POST", "DELETE", "DELETE", "PUT"]
    assert {int(path.rsplit("/", 1)[1]) for m, path, _ in sequence if m == "DELETE"} == older
    [record] = course_records(simulator, martin, LASER)
    assert record["id"] not in older
    assert failed_courses(simulator, martin) == []


def test_pass_clears_only_the_course_entry(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    response = deliver(client, result_payload(token(bridge, JAN, CNC), quiz=quiz_of(CNC)))

    assert settled(bridge, response).outcome == "granted"
    assert len(course_records(simulator, JAN, CNC)) == 1
    assert failed_courses(simulator, JAN) == [{"id": LASER, "title": "Laserová řezačka", "attempts": 3}]
    assert simulator.state.member(JAN)["metadata"]["other"] == "keep"
    assert "Training completed: CNC milling machine" in member_mail(smtp, "jan.novak@example.org")


def test_pass_of_a_course_without_expiry_has_no_until_date(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    deliver(client, result_payload(token(bridge, PETRA, PRINTER), quiz=quiz_of(PRINTER)))

    [record] = course_records(simulator, PETRA, PRINTER)
    assert record["untilDate"] is None
    text = member_mail(smtp, "petra.dvorakova@example.org")
    assert "Školení má neomezenou platnost" in text and "The training does not expire" in text
    assert bridge.store.ledger.entries()[0].until_date is None


def test_pass_without_attempts_left_adds_nothing_and_alerts_staff(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, discord: DiscordSink
) -> None:
    cm_user_id = token(bridge, JAN, LASER)

    response = deliver(client, result_payload(cm_user_id))

    assert settled(bridge, response).outcome == "blocked_pass"
    assert course_records(simulator, JAN, LASER) == []
    assert writes(simulator) == []
    text = member_mail(smtp, "jan.novak@example.org")
    assert "jste sice úspěšně složili" in text and "That is why the training was not recorded" in text
    assert "https://courses.fablab.example/member?id=2&key=" in text
    mail, chat = staff_alert(smtp, discord)
    for alert in (mail, chat):
        assert "no attempts left" in alert
        assert_nothing_secret(alert, bridge, cm_user_id)
    assert bridge.store.ledger.entries() == []


# -- 4.9 unexpected errors -----------------------------------------------------


def test_unexpected_error_tells_member_and_staff_and_replay_applies_it(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    discord: DiscordSink,
    api_headers: dict[str, str],
) -> None:
    simulator.faults.fail_next(1, 400, method="POST", path_contains="/trainings")
    cm_user_id = token(bridge, PETRA, LASER)

    response = deliver(client, result_payload(cm_user_id))

    assert response.status_code == 200
    event = only_event(bridge.store)
    assert response.json["status"] == "accepted" and response.json["event_id"] == event.id
    assert event.status == "error" and "400" in (event.last_error or "")
    assert len(course_records(simulator, PETRA, LASER)) == 1  # the expired one, untouched
    text = member_mail(smtp, "petra.dvorakova@example.org")
    assert "došlo k chybě" in text and "Something went wrong" in text and str(event.id) in text
    mail, chat = staff_alert(smtp, discord)
    for alert in (mail, chat):
        assert f"Event {event.id}" in alert and f"flask replay-event {event.id}" in alert
        assert_nothing_secret(alert, bridge, cm_user_id)
    shown = client.get(f"/admin/events/{event.id}", headers=api_headers)
    assert shown.json["status"] == "error"

    replayed = client.post(f"/admin/events/{event.id}/replay", headers=api_headers)

    assert replayed.json == {"status": "applied", "event_id": event.id, "outcome": "granted"}
    [record] = course_records(simulator, PETRA, LASER)
    assert record["date"] == today().isoformat()
    assert "Training completed" in smtp.to("petra.dvorakova@example.org")[-1]["Subject"]
    assert only_event(bridge.store).status == "applied"
    assert client.post(f"/admin/events/{event.id}/replay", headers=api_headers).json["status"] == "applied"
    assert len(course_records(simulator, PETRA, LASER)) == 1


def test_unexpected_error_is_replayable_from_the_cli(
    client: FlaskClient, runner: FlaskCliRunner, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    simulator.faults.fail_next(1, 403, method="PUT")
    deliver(client, result_payload(token(bridge, MARKETA, SAFETY), quiz=quiz_of(SAFETY), passed=False))
    event = only_event(bridge.store)
    assert event.status == "error"
    assert failed_courses(simulator, MARKETA) == []

    shown = runner.invoke(args=["show-event", str(event.id)])
    result = runner.invoke(args=["replay-event", str(event.id)])

    assert shown.exit_code == 0 and '"status": "error"' in shown.output
    assert result.exit_code == 0, result.output
    assert '"status": "applied"' in result.output
    assert failed_courses(simulator, MARKETA) == [{"id": SAFETY, "title": "Bezpečnost v dílně", "attempts": 1}]
    assert "Zbývají vám ještě 2 pokusy" in text_of(smtp.to("marketa.pospisilova@example.org")[-1])
    assert runner.invoke(args=["replay-event", "999"]).exit_code != 0
