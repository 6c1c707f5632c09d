"""POST /cron/expire_trainings end to end: the simulator's records, the SMTP sink, the request log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.expiry.conftest import (
    CRON,
    LASER,
    MEMBERS,
    PAGE,
    QUIZ,
    all_records,
    czech_date,
    email_of,
    english_date,
    expired_in,
    expiry_mails,
    outbox_keys,
    personal_link,
    prague_today,
    reminder_mails,
)
from tests.support import text_of

PAGES = -(-MEMBERS // PAGE)
NO_ADDRESS = 9


def _expected(expired: dict[int, set[int]]) -> dict[str, object]:
    total = sum(len(ids) for ids in expired.values())
    return {
        "expired_found": total,
        "removed": total,
        "mails_queued": total - len(expired[NO_ADDRESS]),
        "no_address": len(expired[NO_ADDRESS]),
    }


def _without(records: dict[int, list[dict[str, object]]], gone: dict[int, set[int]]) -> dict[int, set[int]]:
    return {member: {int(str(r["id"])) for r in held} - gone.get(member, set()) for member, held in records.items()}


def _ids(records: dict[int, list[dict[str, object]]]) -> dict[int, set[int]]:
    return _without(records, {})


def test_sweep_announces_then_removes_every_expired_record_across_pages(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    today = prague_today()
    before = all_records(simulator)
    expired = expired_in(before, today)
    simulator.clear_requests()

    answer = client.post(CRON, headers=cron_headers)

    assert answer.status_code == 200
    assert answer.json == {
        "dry_run": False,
        "today": today.isoformat(),
        "reminder_days": 14,
        "members_scanned": MEMBERS,
        **_expected(expired),
        "reminders_queued": 2,
        "errors": [],
    }
    assert _ids(all_records(simulator)) == _without(before, expired)
    # One list request per page of members, nothing fetched per member; one delete per expired record.
    requests = simulator.requests
    assert [(r.method, r.path) for r in requests if r.method == "GET"] == [("GET", "/members")] * PAGES
    deletes = sorted(r.path for r in requests if r.method == "DELETE")
    assert deletes == sorted(f"/members/{m}/trainings/{r}" for m, ids in expired.items() for r in ids)
    assert {r.status for r in requests if r.method == "DELETE"} == {204}
    # Exactly one expiry mail per removed record, to every member with an address.
    for member_id, ids in expired.items():
        assert len(expiry_mails(smtp.messages, member_id)) == (0 if member_id == NO_ADDRESS else len(ids))
    assert len(smtp.messages) == answer.json["mails_queued"] + 2
    assert all(message.status == "sent" for message in bridge.store.outbox.messages())
    # Each removal is an evidence event (section 16): one `removed` leaf naming the member and the record.
    leaves = [json.loads(leaf.leaf) for leaf in bridge.store.evidence.leaves()]
    assert {leaf["event"] for leaf in leaves} == {"removed"}
    assert sorted((leaf["member_id"], leaf["fabman_record_id"]) for leaf in leaves) == sorted(
        (m, r) for m, ids in expired.items() for r in ids
    )


def test_expiry_mail_is_bilingual_with_course_date_and_links(
    client: FlaskClient, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    today = prague_today()
    assert client.post(CRON, headers=cron_headers).status_code == 200

    [online] = expiry_mails(smtp.messages, 1)
    assert str(online["Subject"]) == "Platnost školení skončila: Laserová řezačka / Training expired: Laser cutter"
    text = text_of(online)
    assert "Dobrý den" in text and "Hi Člen" in text
    assert f"skončila {czech_date(today)}" in text and f"expired on {english_date(today)}" in text
    assert personal_link(1) in text
    [quiz_line] = {line for line in text.splitlines() if line.startswith(QUIZ + "laser123&cm_user_id=")}
    identity = bridge.codec.decode(unquote(quiz_line.split("cm_user_id=", 1)[1]))
    assert (identity.member_id, identity.course_id) == (1, LASER)

    [presence_only] = expiry_mails(smtp.messages, 2)
    text = text_of(presence_only)
    assert "Stolní soustruh" in text and "Bench lathe" in text
    assert czech_date(today - dt.timedelta(days=1)) in text
    assert personal_link(2) in text and "cm_user_id" not in text

    [out_of_attempts] = expiry_mails(smtp.messages, 10)
    text = text_of(out_of_attempts)
    assert "Pájení" in text and personal_link(10) in text and "cm_user_id" not in text


def test_second_run_the_same_day_mails_and_deletes_nothing(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    assert client.post(CRON, headers=cron_headers).json["removed"] > 0
    logged = bridge.store.evidence.size()
    mailed = len(smtp.messages)
    left = _ids(all_records(simulator))
    simulator.clear_requests()

    again = client.post(CRON, headers=cron_headers).json

    assert {k: again[k] for k in ("expired_found", "removed", "mails_queued", "reminders_queued", "no_address", "errors")} == {
        "expired_found": 0,
        "removed": 0,
        "mails_queued": 0,
        "reminders_queued": 0,
        "no_address": 0,
        "errors": [],
    }
    assert len(smtp.messages) == mailed
    assert bridge.store.evidence.size() == logged
    assert _ids(all_records(simulator)) == left
    assert [r.method for r in simulator.requests] == ["GET"] * PAGES


def test_dry_run_reports_what_a_run_would_do_and_changes_nothing(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    before = all_records(simulator)
    expired = expired_in(before, prague_today())
    simulator.clear_requests()

    dry = client.post(CRON + "?dry_run=true", headers=cron_headers)

    assert dry.status_code == 200
    assert dry.json["dry_run"] is True
    assert {k: dry.json[k] for k in ("expired_found", "removed", "mails_queued", "no_address")} == _expected(expired)
    assert dry.json["reminders_queued"] == 2
    assert all_records(simulator) == before
    assert smtp.messages == []
    assert outbox_keys(bridge.store) == []
    assert {r.method for r in simulator.requests} == {"GET"}

    real = client.post(CRON, headers=cron_headers).json
    assert {k: v for k, v in real.items() if k != "dry_run"} == {k: v for k, v in dry.json.items() if k != "dry_run"}


def test_dry_run_flag_must_be_a_boolean(client: FlaskClient, cron_headers: dict[str, str], smtp: SmtpSink) -> None:
    answer = client.post(CRON + "?dry_run=maybe", headers=cron_headers)
    assert answer.status_code == 400
    assert answer.json["field"] == "dry_run"
    assert smtp.messages == []


def test_fabman_503_on_one_delete_spares_the_others_and_a_rerun_finishes_without_mailing_twice(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    today = prague_today()
    before = all_records(simulator)
    expired = expired_in(before, today)
    victim = 60
    [record_id] = expired[victim]
    # The client retries a DELETE twice on 5xx, so three 503s make the delete fail for good.
    simulator.faults.fail_next(3, 503, "DELETE", f"/members/{victim}/trainings/{record_id}")

    first = client.post(CRON, headers=cron_headers)

    assert first.status_code == 200
    [error] = first.json["errors"]
    assert (error["member_id"], error["record_id"]) == (victim, record_id)
    assert "503" in error["error"]
    assert first.json["removed"] == _expected(expired)["removed"] - 1
    assert _ids(all_records(simulator)) == _without(before, {**expired, victim: set()})
    assert len(expiry_mails(smtp.messages, victim)) == 1  # announced before the delete failed
    [alert] = smtp.to("staff@fablab.example")
    assert f"members {victim} " in text_of(alert)

    rerun = client.post(CRON, headers=cron_headers).json

    assert (rerun["expired_found"], rerun["removed"], rerun["mails_queued"], rerun["errors"]) == (1, 1, 0, [])
    assert _ids(all_records(simulator)) == _without(before, expired)
    assert len(expiry_mails(smtp.messages, victim)) == 1


def test_rate_limited_delete_waits_and_still_removes(
    client: FlaskClient, simulator: FabmanSimulator, cron_headers: dict[str, str]
) -> None:
    [record_id] = expired_in(all_records(simulator), prague_today())[1]
    path = f"/members/1/trainings/{record_id}"
    simulator.faults.fail_next(1, 429, "DELETE", path)

    answer = client.post(CRON, headers=cron_headers).json

    assert answer["errors"] == []
    assert record_id not in {r["id"] for r in simulator.state.trainings_of(1)}
    assert [r.status for r in simulator.requests if r.path == path] == [429, 204]


def test_reminders_go_once_to_trainings_ending_within_reminder_days(
    client: FlaskClient, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    today = prague_today()
    assert client.post(CRON, headers=cron_headers).json["reminders_queued"] == 2

    reminders = reminder_mails(smtp.messages)
    assert sorted(str(m["To"]) for m in reminders) == [email_of(3), email_of(5)]
    [third] = [m for m in reminders if str(m["To"]) == email_of(3)]
    assert str(third["Subject"]) == "Platnost školení brzy skončí: Laserová řezačka / Training expires soon: Laser cutter"
    [fifth] = [m for m in reminders if str(m["To"]) == email_of(5)]
    assert str(fifth["Subject"]) == (
        "Platnost školení brzy skončí: Stolní soustruh, Laserová řezačka / Trainings expire soon: Bench lathe, Laser cutter"
    )
    text = text_of(fifth)
    assert "„Laserová řezačka“" in text and '"Laser cutter"' in text
    until = today + dt.timedelta(days=10)
    assert f"skončí {czech_date(until)}" in text and f"expires on {english_date(until)}" in text
    assert personal_link(5) in text and text.count(QUIZ + "laser123&cm_user_id=") == 2
    lathe_until = today + dt.timedelta(days=5)
    assert f"„Stolní soustruh“ skončí {czech_date(lathe_until)}" in text and "renewed in person" in text

    again = client.post(CRON, headers=cron_headers).json
    assert again["reminders_queued"] == 0
    assert len(reminder_mails(smtp.messages)) == 2


def test_reminder_days_zero_turns_reminders_off(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    expired = expired_in(all_records(simulator), prague_today())
    client = make_app(REMINDER_DAYS="0").test_client()

    answer = client.post(CRON, headers=cron_headers).json

    assert (answer["reminder_days"], answer["reminders_queued"]) == (0, 0)
    assert answer["removed"] == _expected(expired)["removed"]
    assert reminder_mails(smtp.messages) == []


@pytest.mark.parametrize("headers", [{}, {"CronjobToken": "wrong"}])
def test_sweep_needs_the_cron_token(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, headers: dict[str, str]
) -> None:
    before = all_records(simulator)
    answer = client.post(CRON, headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert all_records(simulator) == before and smtp.messages == []


def test_sweep_is_off_without_a_configured_token(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, cron_headers: dict[str, str]
) -> None:
    before = all_records(simulator)
    answer = make_app(CRONJOB_TOKEN=None).test_client().post(CRON, headers=cron_headers)
    assert answer.status_code == 503
    assert answer.json["title"] == "Not configured"
    assert all_records(simulator) == before


def test_fabman_down_is_a_503_problem_and_changes_nothing(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    simulator.faults.down = True
    answer = client.post(CRON, headers=cron_headers)
    assert answer.status_code == 503
    assert answer.json["type"].endswith("upstream-unavailable")
    simulator.faults.down = False
    assert outbox_keys(bridge.store) == [] and smtp.messages == []
