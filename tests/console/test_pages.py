"""The console's pages, as staff see them, against the Fabman simulator and the SMTP sink.

After the morning of the conftest, staff sign in from the mail
and answer from the console what the contract says each page answers.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.domain.statuses import EventStatus
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import (
    JAN,
    LASER,
    LUKAS,
    MARTIN,
    ONDREJ,
    OWNER,
    SOLDERING,
    Morning,
    form_post,
    html,
    result_ids,
    sign_in,
)

pytestmark = pytest.mark.e2e

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
        bridge.store.inbox.receive(
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


def test_an_unknown_result_is_a_404_page(staff: FlaskClient) -> None:
    answer = staff.get("/staff/results/999999", headers={"Accept": "text/html"})

    assert answer.status_code == 404 and answer.mimetype == "text/html"


# -- evidence -----------------------------------------------------------------------------------


def test_evidence_answers_did_member_x_pass_course_y_when_and_with_what_score(staff: FlaskClient, bridge: Bridge) -> None:
    page = html(staff.get(f"/staff/evidence?member={MARTIN}&course={SOLDERING}", headers={"Accept-Language": "en"}))

    assert "Found: 1" in page and "Pájení" in page and "90 %" in page
    assert "Found: 0" in html(staff.get(f"/staff/evidence?member={MARTIN}&course={LASER}", headers={"Accept-Language": "en"}))
    tomorrow = bridge.deps.today() + dt.timedelta(days=1)
    assert "Found: 0" in html(staff.get(f"/staff/evidence?from={tomorrow}", headers={"Accept-Language": "en"}))


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
