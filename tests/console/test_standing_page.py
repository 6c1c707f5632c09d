"""The console's member page shows where the member stands (contract section 14), in both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import OWNER, sign_in

pytestmark = pytest.mark.e2e

PETRA, EVA = 1, 6


@pytest.fixture
def staff(client: FlaskClient, smtp: SmtpSink) -> Iterator[FlaskClient]:
    sign_in(client, smtp, OWNER)
    yield client


def page(staff: FlaskClient, path: str, lang: str) -> str:
    answer = staff.get(f"{path}?lang={lang}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_member_page_says_where_the_member_stands_and_what_to_do_next(staff: FlaskClient) -> None:
    english, czech = page(staff, f"/staff/members/{EVA}", "en"), page(staff, f"/staff/members/{EVA}", "cs")

    assert "Where the member stands" in english and "Kde člen stojí" in czech
    assert re.search(r"Vakuová formovačka <span[^>]*>#12</span></td>\s*<td[^>]*><span class=\"badge s-needs_prerequisite\">"
                     r"needs a prerequisite</span>", english)  # fmt: skip
    assert "Take Workshop safety first." in english and "Nejdříve absolvujte Bezpečnost v dílně." in czech
    assert "chybí předpoklad" in czech and "jen prezenčně" in czech
    assert "cm_user_id" not in english  # the quiz links stay out of the console


def test_an_expired_training_is_shown_with_its_retake_step(staff: FlaskClient) -> None:
    petra = page(staff, f"/staff/members/{PETRA}", "en")

    assert re.search(r"s-expired\">expired</span>", petra)
    assert "; retake the quiz here." in petra and "cm_user_id" not in petra


def test_the_overview_names_courses_whose_requirements_cannot_be_met(
    staff: FlaskClient, simulator: FabmanSimulator, bridge: Bridge
) -> None:
    assert "Courses whose requirements cannot be met" not in page(staff, "/staff/", "en")
    vacuum = simulator.state.course(12)["metadata"]["courses_cm"]
    simulator.state.update_course(12, metadata={"courses_cm": {**vacuum, "requires": [1, 77]}})
    bridge.fabman.forget_courses()

    english, czech = page(staff, "/staff/", "en"), page(staff, "/staff/", "cs")

    assert "Courses whose requirements cannot be met" in english and "Kurzy s nesplnitelnými požadavky" in czech
    assert re.search(r"Vakuová formovačka <span[^>]*>#12</span>: <code>requires unknown course\(s\) 77</code>", english)
