"""The Statistics page in headless Chromium at 1280 and 375 px, over a year of results (contract section 18).

Results are played through the webhook with the test's clock travelling
through the year, so each course's chart has months to show. Screenshots go
to `screenshots/` (stats-*.png) like the other console pages'.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.clock import SettableClock
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import SmtpSink
from tests.console.test_browser import app, browser, port, served, shoot, sign_in_from_the_mail, visit  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

COURSES = (1, 2, 3, 5)


def play_a_year(client: FlaskClient, bridge: Bridge, clock: SettableClock) -> None:
    """About 80 results over the last 11 months, by members 14-25, from a fixed seed."""
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(18)
    for number in range(80):
        when = now - dt.timedelta(days=rng.uniform(0, 330))
        member, course = rng.randint(14, 25), rng.choice(COURSES)
        percentage = rng.choice((35, 55, 72, 81, 86, 90, 94, 100))
        clock.set(when)
        payload = result_payload(
            bridge.codec.encode(member, course),
            result_id=70000 + number,
            passed=percentage >= 80,
            percentage=percentage,
            quiz=quiz_of(course),
        )
        payload["result"]["time_started"] = int(when.timestamp()) - 600
        payload["result"]["time_finished"] = int(when.timestamp())
        body, headers = signed(payload)
        assert client.post("/add_classmarker_training", data=body, headers=headers).status_code == 200
        if rng.random() < 0.3:  # staff reset attempts now and then, so nobody runs out for good
            bridge.reset_attempts(member, course)
    clock.set(now)


def test_the_statistics_page_reads_well_on_a_desktop_and_a_phone_in_both_languages(
    browser: object,  # noqa: F811
    served: str,  # noqa: F811
    smtp: SmtpSink,
    client: FlaskClient,
    bridge: Bridge,
    clock: SettableClock,
) -> None:
    play_a_year(client, bridge, clock)
    sign_in_from_the_mail(browser, served, smtp)

    english = visit(browser, f"{served}/staff/stats?lang=en")
    assert "Course statistics" in english and english.count('class="chart"') == len(COURSES)
    shoot(browser, "stats")
    czech = visit(browser, f"{served}/staff/stats?lang=cs")
    assert "Statistiky kurzů" in czech and "úspěšné" in czech
    shoot(browser, "stats-cs")
    browser.find_element("css selector", "details summary").click()  # type: ignore[attr-defined]
    assert "Medián skóre" in str(browser.page_source)  # type: ignore[attr-defined]
    shoot(browser, "stats-cs-table")
