"""The console's member pages: finding a member, and what a member's page shows from Fabman and the store."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.console.conftest import JAN, MARTIN, ONDREJ, Morning, html

pytestmark = pytest.mark.e2e


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


def test_a_member_fabman_does_not_know_still_shows_what_the_bridge_knows(staff: FlaskClient) -> None:
    page = html(staff.get("/staff/members/424242", headers={"Accept-Language": "en"}))

    assert "Fabman does not know this member" in page
