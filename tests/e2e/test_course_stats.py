"""Contract section 18, the statistics: numbers checked against a history played through the webhook.

The test's clock travels through the year; at each moment a ClassMarker
result (finished then) is delivered and applied against the Fabman
simulator, so the inbox and the ledger hold what a real year would leave.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from bridge.services.statistics import CSV_COLUMNS
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import SmtpSink
from tests.console.conftest import OWNER, sign_in
from tests.support import problem

LASER, SOLDERING = 2, 6
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
MONTHS = [f"2026-{month:02d}" for month in range(1, 13)]


def play(client: FlaskClient, bridge: Bridge, clock: SettableClock, when: dt.datetime, member: int, course: int,
         percentage: int, *, result_id: int, grading: str = "No") -> None:  # fmt: skip
    clock.set(when)
    payload = result_payload(
        bridge.codec.encode(member, course), result_id=result_id, passed=percentage >= 80, percentage=percentage,
        requires_grading=grading, quiz=quiz_of(course),
    )  # fmt: skip
    payload["result"]["time_started"] = int(when.timestamp()) - 600
    payload["result"]["time_finished"] = int(when.timestamp())
    body, headers = signed(payload)
    assert client.post("/add_classmarker_training", data=body, headers=headers).status_code == 200


@pytest.fixture
def history(make_app: Callable[..., Flask], clock: SettableClock) -> tuple[FlaskClient, Bridge]:
    app = make_app(clock=clock)
    client, bridge = app.test_client(), bridge_of(app)
    at = lambda *args: dt.datetime(*args, tzinfo=dt.UTC)  # noqa: E731
    play(client, bridge, clock, at(2025, 10, 1, 9), 18, LASER, 40, result_id=1)  # before the window: 18's first attempt
    play(client, bridge, clock, at(2026, 10, 5, 9), 14, LASER, 40, result_id=2)  # 14's first attempt: a fail
    play(client, bridge, clock, at(2026, 10, 5, 10), 14, LASER, 90, result_id=3)
    play(client, bridge, clock, at(2026, 10, 6, 9), 15, LASER, 85, result_id=4)  # 15's first attempt: a pass
    play(client, bridge, clock, at(2026, 10, 7, 9), 18, LASER, 90, result_id=5)
    play(client, bridge, clock, at(2026, 10, 31, 23, 30), 19, LASER, 95, result_id=6)  # 1 November in Prague
    play(client, bridge, clock, at(2026, 11, 10, 9), 16, LASER, 50, result_id=7)
    play(client, bridge, clock, at(2026, 11, 12, 9), 14, LASER, 95, result_id=8)  # 14 again: not a first attempt
    play(client, bridge, clock, at(2026, 12, 1, 9), 17, SOLDERING, 100, result_id=9)
    play(client, bridge, clock, at(2026, 12, 2, 9), 20, SOLDERING, 70, result_id=10, grading="Yes")  # awaits grading
    clock.set(NOW)
    return client, bridge


def rows_of(listed: list[dict[str, Any]], course_id: int) -> dict[str, dict[str, Any]]:
    return {row["month"]: row for row in listed if row["course_id"] == course_id}


def test_each_course_month_by_month(history: tuple[FlaskClient, Bridge], api_headers: dict[str, str]) -> None:
    client, _ = history

    answer = client.get("/admin/stats", headers=api_headers)

    assert answer.status_code == 200
    listed = answer.json
    assert [(row["course_id"], row["month"]) for row in listed] == [(c, m) for c in (LASER, SOLDERING) for m in MONTHS]
    laser, soldering = rows_of(listed, LASER), rows_of(listed, SOLDERING)
    assert laser["2026-10"] == {
        "course_id": LASER, "month": "2026-10", "results": 4, "passes": 3, "fails": 1,
        "first_attempt_pass_share": 0.5, "median_score": 87.5, "holders": 3,
    }  # fmt: skip
    assert laser["2026-11"] == {
        "course_id": LASER, "month": "2026-11", "results": 3, "passes": 2, "fails": 1,
        "first_attempt_pass_share": 0.5, "median_score": 95.0, "holders": 4,
    }  # fmt: skip
    assert laser["2026-12"] == {
        "course_id": LASER, "month": "2026-12", "results": 0, "passes": 0, "fails": 0,
        "first_attempt_pass_share": None, "median_score": None, "holders": 4,
    }  # fmt: skip
    assert all(laser[month]["results"] == laser[month]["holders"] == 0 for month in MONTHS[:9])
    assert soldering["2026-12"]["results"] == 1 and soldering["2026-12"]["first_attempt_pass_share"] == 1.0
    assert (soldering["2026-12"]["median_score"], soldering["2026-12"]["holders"]) == (100.0, 1)
    assert soldering["2026-11"]["holders"] == 0


def test_the_statistics_need_the_api_key(client: FlaskClient) -> None:
    problem(client.get("/admin/stats"), 401)
    problem(client.get("/admin/stats", headers={"Authorization": "wrong"}), 401)


def test_an_empty_store_has_no_rows(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert client.get("/admin/stats", headers=api_headers).json == []


def test_the_console_page_draws_each_course_by_itself_in_both_languages_and_gives_the_csv(
    history: tuple[FlaskClient, Bridge], smtp: SmtpSink
) -> None:
    client, _ = history
    sign_in(client, smtp, OWNER)

    english = client.get("/staff/stats?lang=en").get_data(as_text=True)
    czech = client.get("/staff/stats?lang=cs").get_data(as_text=True)

    assert "Course statistics" in english and "Statistiky kurzů" in czech
    assert english.count('<svg class="chart"') == 2
    assert '<title id="chart-2">Chart of Laser cutter: results and holders by month</title>' in english
    assert "Graf kurzu Laserová řezačka: výsledky a držitelé po měsících" in czech
    assert "<title>Oct: 3 passes</title>" in english and "<title>říj: 1 neúspěšné</title>" in czech
    assert (
        "<script" not in english and re.findall(r"https?://[^\"' )]+", _svg_parts(english)) == ["http://www.w3.org/2000/svg"] * 2
    )
    assert re.search(r"<td[^>]*>2026-10</td>\s*<td[^>]*>4</td>\s*<td[^>]*>3</td>\s*<td[^>]*>1</td>\s*<td[^>]*>50 %</td>"
                     r"\s*<td[^>]*>87.5</td>\s*<td[^>]*>3</td>", english)  # fmt: skip

    download = client.get("/staff/stats.csv")
    assert download.content_type == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert table[0] == list(CSV_COLUMNS)
    assert ["2", "Laserová řezačka", "2026-10", "4", "3", "1", "0.5", "87.5", "3"] in table
    assert ["6", "Pájení", "2026-11", "0", "0", "0", "", "", "0"] in table
    assert len(table) == 1 + 24


def _svg_parts(page: str) -> str:
    return "".join(re.findall(r"<svg.*?</svg>", page, flags=re.S))
