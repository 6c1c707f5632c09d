"""The console's pages and actions, as staff see them, against the Fabman simulator and the SMTP sink.

A morning at the FabLab: a result that died while Fabman was down two days
ago, then today a pass, a fail and a forged link. Staff sign in from the mail
and answer from the console what the contract says each page answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge.application import Bridge
from bridge.clock import SettableClock
from bridge.domain.statuses import EventStatus
from bridge.services.console.exports import EVIDENCE_COLUMNS
from harness import CRON_TOKEN
from harness.classmarker import LASER_QUIZ, quiz_of, result_payload, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import OWNER, form_post, sign_in, staff_log

pytestmark = pytest.mark.e2e

PETRA, JAN, MARTIN, ONDREJ, LUKAS = 1, 2, 5, 9, 11
LASER, CNC, SOLDERING, PLOTTER = 2, 4, 6, 5


@dataclass
class Morning:
    """What happened before staff looked: event ids and the cm_user_ids the results carried."""

    dead: int
    granted: int
    failed: int
    rejected: int
    tokens: list[str]


def deliver(client: FlaskClient, token: str, result_id: int, *, passed: bool, test_name: str, quiz: str = LASER_QUIZ) -> int:
    body, headers = signed(result_payload(token, result_id=result_id, passed=passed, test_name=test_name, quiz=quiz))
    answer = client.post("/add_classmarker_training", data=body, headers=headers)
    assert answer.status_code == 200, answer.json
    return int(answer.json["event_id"])


@pytest.fixture
def morning(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, clock: SettableClock) -> Morning:
    tokens = [bridge.codec.encode(*pair) for pair in ((PETRA, LASER), (MARTIN, SOLDERING), (JAN, CNC))]
    simulator.faults.down = True
    dead = deliver(client, tokens[0], 5001, passed=True, test_name="Laser cutter - safety")
    clock.advance(hours=49)
    client.post("/cron/retry", headers={"CronjobToken": CRON_TOKEN})
    simulator.faults.down = False
    granted = deliver(client, tokens[1], 5002, passed=True, test_name="Soldering", quiz=quiz_of(SOLDERING))
    failed = deliver(client, tokens[2], 5003, passed=False, test_name="CNC mill", quiz=quiz_of(CNC))
    forged = "gAAAAAforged" + tokens[2][12:]
    rejected = deliver(client, forged, 5004, passed=True, test_name="CNC mill", quiz=quiz_of(CNC))
    statuses = {event_id: bridge.event(event_id).status for event_id in (dead, granted, failed, rejected)}
    assert statuses == {dead: "dead", granted: "applied", failed: "applied", rejected: "rejected"}
    return Morning(dead, granted, failed, rejected, [*tokens, forged])


@pytest.fixture
def staff(client: FlaskClient, smtp: SmtpSink, morning: Morning) -> Iterator[FlaskClient]:
    sign_in(client, smtp, OWNER)
    smtp.clear()
    client.get("/staff/?lang=en")  # English from here on, kept in the language cookie
    yield client


def html(answer: TestResponse) -> str:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "text/html"
    return answer.get_data(as_text=True)


def result_ids(page: str) -> list[int]:
    """The result numbers a result list shows, in order."""
    return [int(number) for number in re.findall(r'href="/staff/results/(\d+)"', page)]


# -- overview -----------------------------------------------------------------------------------


def test_the_overview_counts_today_and_the_week_and_each_count_opens_its_list(
    staff: FlaskClient, morning: Morning, bridge: Bridge
) -> None:
    page = html(staff.get("/staff/", headers={"Accept-Language": "en"}))
    today = bridge.deps.today()
    week_from = today - dt.timedelta(days=6)

    links = dict(re.findall(r'<a href="(/staff/results\?[^"]+)">.*?</a>\s*<span class="n">(\d+)</span>', page, re.S))
    today_applied = f"/staff/results?status=applied&amp;from={today}&amp;to={today}"
    week_dead = f"/staff/results?status=dead&amp;from={week_from}&amp;to={today}"
    assert links[today_applied] == "2"
    assert links[f"/staff/results?status=rejected&amp;from={today}&amp;to={today}"] == "1"
    assert links[f"/staff/results?status=dead&amp;from={today}&amp;to={today}"] == "0"
    assert links[week_dead] == "1"
    assert result_ids(html(staff.get(today_applied.replace("&amp;", "&")))) == [morning.failed, morning.granted]
    assert result_ids(html(staff.get(week_dead.replace("&amp;", "&")))) == [morning.dead]
    assert "never run" in page and "not measured" in page
    assert "/staff/mail?status=pending" in page and "/staff/mail?status=dead" in page


def test_the_overview_shows_each_jobs_last_run(staff: FlaskClient) -> None:
    page = html(staff.get("/staff/", headers={"Accept-Language": "en"}))

    retry_row = re.search(r"<td[^>]*>Retry</td>.*?</tr>", page, re.S)
    assert retry_row is not None
    assert "processed=" in retry_row.group(0) and "never run" not in retry_row.group(0)
    assert re.search(r"<td[^>]*>Expiry sweep</td>.*?never run", page, re.S)


# -- results ------------------------------------------------------------------------------------


def test_results_are_newest_first_and_filter_by_status_member_course_and_date(
    staff: FlaskClient, morning: Morning, bridge: Bridge
) -> None:
    today = bridge.deps.today()

    assert result_ids(html(staff.get("/staff/results"))) == [morning.rejected, morning.failed, morning.granted, morning.dead]
    assert result_ids(html(staff.get("/staff/results?status=rejected"))) == [morning.rejected]
    assert result_ids(html(staff.get(f"/staff/results?member={JAN}"))) == [morning.failed]
    assert result_ids(html(staff.get(f"/staff/results?course={SOLDERING}"))) == [morning.granted]
    assert result_ids(html(staff.get(f"/staff/results?from={today}"))) == [morning.rejected, morning.failed, morning.granted]
    assert result_ids(html(staff.get(f"/staff/results?to={today - dt.timedelta(days=1)}"))) == [morning.dead]


def test_a_result_row_shows_member_course_outcome_and_times(staff: FlaskClient, morning: Morning) -> None:
    page = html(staff.get(f"/staff/results?member={MARTIN}", headers={"Accept-Language": "en"}))

    row = re.search(r"<tr>\s*<td data-label=\"Result\">.*?</tr>", page, re.S)
    assert row is not None
    text = re.sub(r"<[^>]+>", " ", row.group(0))
    assert f"#{morning.granted}" in text
    assert "Petra Dvorakova" in text  # the name ClassMarker received with the result
    assert "Pájení" in text and "applied" in text and "training granted" in text
    assert len(re.findall(r"\d{2}:\d{2}", text)) == 2  # received and applied


def test_bad_filters_are_named_not_a_crash(staff: FlaskClient) -> None:
    for query in ("status=lost", "member=abc", "course=-1", "from=2026-13-01", "page=0"):
        answer = staff.get(f"/staff/results?{query}")
        assert answer.status_code == 422, query
        assert answer.get_json()["status"] == 422


def test_the_result_list_pages_by_fifty(staff: FlaskClient, bridge: Bridge) -> None:
    for number in range(60):
        bridge.store.receive_event(
            result_key=f"paging-{number}", status=EventStatus.APPLIED, passed=True, test_name="Paging", payload="{}"
        )

    first = html(staff.get("/staff/results?status=applied", headers={"Accept-Language": "en"}))
    second = html(staff.get("/staff/results?status=applied&page=2", headers={"Accept-Language": "en"}))

    assert len(result_ids(first)) == 50 and len(result_ids(second)) == 12
    assert "Page 1 of 2" in first and 'href="/staff/results?status=applied&amp;page=2"' in first
    assert set(result_ids(first)).isdisjoint(result_ids(second))


def test_a_result_page_shows_its_timeline_mail_record_and_payload_without_the_full_cm_user_id(
    staff: FlaskClient, morning: Morning, simulator: FabmanSimulator
) -> None:
    page = html(staff.get(f"/staff/results/{morning.granted}", headers={"Accept-Language": "en"}))

    record = next(r for r in simulator.state.trainings_of(MARTIN) if r["trainingCourse"] == SOLDERING)
    assert f"#{record['id']}" in page
    assert "received" in page and "training written to Fabman" in page and "mail queued" in page
    assert "Martin Svoboda" in page  # a single result is named as in Fabman
    assert "martin.svoboda@example.org" in page
    assert morning.tokens[1] not in page
    assert morning.tokens[1][:6] + "…" in page
    assert "Replay" not in page  # applied results are not replayable


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


def test_an_unknown_result_is_a_404_page(staff: FlaskClient) -> None:
    answer = staff.get("/staff/results/999999", headers={"Accept": "text/html"})

    assert answer.status_code == 404 and answer.mimetype == "text/html"


# -- members ------------------------------------------------------------------------------------


def test_members_are_found_by_name_email_or_id(staff: FlaskClient) -> None:
    by_name = html(staff.get("/staff/members?q=Novák"))
    by_email = html(staff.get("/staff/members?q=jan.novak@example"))
    by_id = staff.get(f"/staff/members?q={JAN}")

    assert f'href="/staff/members/{JAN}"' in by_name and f'href="/staff/members/{JAN}"' in by_email
    assert by_id.status_code == 302 and by_id.location == f"/staff/members/{JAN}"


def test_a_member_page_shows_trainings_attempts_evidence_results_and_mail(staff: FlaskClient, morning: Morning) -> None:
    jan = html(staff.get(f"/staff/members/{JAN}", headers={"Accept-Language": "en"}))
    martin = html(staff.get(f"/staff/members/{MARTIN}", headers={"Accept-Language": "en"}))
    ondrej = html(staff.get(f"/staff/members/{ONDREJ}", headers={"Accept-Language": "en"}))

    assert "Jan Novák" in jan and "Failed attempts" in jan
    assert re.search(r"CNC frézka</td>\s*<td[^>]*>3</td>\s*<td[^>]*>5</td>\s*<td[^>]*>2</td>", jan)
    assert re.search(r"Laserová řezačka</td>\s*<td[^>]*>3</td>\s*<td[^>]*>3</td>\s*<td[^>]*>0</td>", jan)
    assert jan.count("Reset attempts") == 2
    assert f"/staff/results/{morning.failed}" in jan and "CNC" in jan
    assert "Pájení" in martin and "Soldering" in martin  # the evidence row: course and quiz
    assert "expiring soon" in ondrej and "active" in ondrej
    assert "martin.svoboda@example.org" in martin  # the mail sent to him


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


def test_a_member_fabman_does_not_know_still_shows_what_the_bridge_knows(staff: FlaskClient) -> None:
    page = html(staff.get("/staff/members/424242", headers={"Accept-Language": "en"}))

    assert "Fabman does not know this member" in page


# -- evidence -----------------------------------------------------------------------------------


def test_evidence_answers_did_member_x_pass_course_y_when_and_with_what_score(staff: FlaskClient, bridge: Bridge) -> None:
    page = html(staff.get(f"/staff/evidence?member={MARTIN}&course={SOLDERING}", headers={"Accept-Language": "en"}))

    assert "Found: 1" in page and "Pájení" in page and "90 %" in page
    assert "Found: 0" in html(staff.get(f"/staff/evidence?member={MARTIN}&course={LASER}", headers={"Accept-Language": "en"}))
    tomorrow = bridge.deps.today() + dt.timedelta(days=1)
    assert "Found: 0" in html(staff.get(f"/staff/evidence?from={tomorrow}", headers={"Accept-Language": "en"}))


def test_evidence_downloads_as_utf8_csv_with_every_ledger_column(staff: FlaskClient, bridge: Bridge) -> None:
    answer = staff.get(f"/staff/evidence.csv?member={MARTIN}")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="evidence-')
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8"))))
    assert rows[0] == list(EVIDENCE_COLUMNS)
    assert len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    entry = bridge.store.find_ledger(member_id=MARTIN)[0][0]
    assert record["course_title"] == "Pájení" and record["percentage"] == "90.0" and record["result_id"] == "5002"
    assert record["fabman_record_id"] == str(entry.fabman_record_id)
    assert '"test_name": "Soldering"' in record["evidence"]


# -- expiring, mail, staff log --------------------------------------------------------------------


def test_expiring_lists_the_next_30_days_and_the_window_can_change(client: FlaskClient, smtp: SmtpSink, bridge: Bridge) -> None:
    sign_in(client, smtp, OWNER)
    month = html(client.get("/staff/expiring", headers={"Accept-Language": "en"}))
    two_days = html(client.get("/staff/expiring?days=2", headers={"Accept-Language": "en"}))

    ondrej = f'href="/staff/members/{ONDREJ}"'
    assert month.count(ondrej) == 2  # Plotr in 7 days, Bezpečnost tomorrow
    assert two_days.count(ondrej) == 1
    assert "Vinylový řezací plotr" in month and "Vinylový řezací plotr" not in two_days
    assert f'href="/staff/members/{LUKAS}"' in two_days  # CNC until tomorrow; his Pájení ended today: expired, not expiring
    tomorrow = bridge.deps.today() + dt.timedelta(days=1)
    assert f"{tomorrow.day} {tomorrow:%b} {tomorrow.year}" in two_days
    assert client.get("/staff/expiring?days=0").status_code == 422


def test_the_mail_list_shows_dead_and_pending_mail_without_bodies(staff: FlaskClient) -> None:
    page = html(staff.get("/staff/mail", headers={"Accept-Language": "en"}))

    assert "Training" in page or "Školení" in page
    assert "quiz=" not in page and "cm_user_id" not in page


def test_the_staff_log_keeps_who_did_what_to_which_target(staff: FlaskClient, morning: Morning) -> None:
    form_post(staff, f"/staff/members/{JAN}", f"/staff/members/{JAN}/reset", course_id=str(LASER))

    page = html(staff.get("/staff/log", headers={"Accept-Language": "en"}))

    assert page.count(OWNER) >= 2
    assert "sign-in" in page and "reset attempts" in page and f'href="/staff/members/{JAN}"' in page


# -- language ---------------------------------------------------------------------------------


def test_pages_follow_the_browser_language_and_the_switch_sticks(staff: FlaskClient) -> None:
    staff.delete_cookie("fablab_staff_lang", path="/staff")
    assert "Přehled" in html(staff.get("/staff/", headers={"Accept-Language": "cs-CZ,cs;q=0.9"}))
    assert "Overview" in html(staff.get("/staff/", headers={"Accept-Language": "en-GB,en;q=0.9"}))

    switched = staff.get("/staff/results?status=dead&lang=en", headers={"Accept-Language": "cs"})
    assert "Results" in html(switched) and '<html lang="en">' in html(switched)
    assert "fablab_staff_lang=en" in switched.headers["Set-Cookie"]
    assert 'href="/staff/results?status=dead&amp;lang=cs"' in html(switched)
    assert "Výsledky" not in html(staff.get("/staff/results", headers={"Accept-Language": "cs"}))


# -- nothing secret on any page ----------------------------------------------------------------


def test_no_page_shows_a_secret_or_a_full_cm_user_id(
    app: Flask, staff: FlaskClient, morning: Morning, env: dict[str, str]
) -> None:
    secrets = {
        name: env[name]
        for name in (
            "FABMAN_API_KEY",
            "FERNET_KEY",
            "CLASSMARKER_WEBHOOK_SECRET",
            "CRONJOB_TOKEN",
            "SECRET_KEY",
            "COURSES_WEB_PRIVATE_KEY",
        )
    }
    pages = [
        "/staff/",
        "/staff/results",
        *(f"/staff/results/{event_id}" for event_id in (morning.dead, morning.granted, morning.failed, morning.rejected)),
        "/staff/members?q=a",
        *(f"/staff/members/{member_id}" for member_id in range(1, 14)),
        "/staff/evidence",
        "/staff/evidence.csv",
        "/staff/expiring?days=366",
        "/staff/mail",
        "/staff/log",
        "/staff/login/sent",
    ]
    for path in pages:
        answer = staff.get(path)
        assert answer.status_code == 200, path
        text = answer.get_data(as_text=True) + str(answer.headers)
        assert [name for name, value in secrets.items() if value in text] == [], path
        assert [token[:8] for token in morning.tokens if token in text] == [], path
