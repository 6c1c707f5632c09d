"""Contract section 18, the statistics: numbers checked against a history played through the webhook.

The test's clock travels through the year; at each moment a ClassMarker
result (finished then) is delivered and applied against the Fabman
simulator, so the inbox and the ledger hold what a real year would leave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from harness.classmarker import result_payload, signed
from tests.support import problem

pytestmark = pytest.mark.e2e

LASER, SOLDERING = 2, 6
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
MONTHS = [f"2026-{month:02d}" for month in range(1, 13)]


def play(client: FlaskClient, bridge: Bridge, clock: SettableClock, when: dt.datetime, member: int, course: int,
         percentage: int, *, result_id: int, grading: str = "No") -> None:  # fmt: skip
    clock.set(when)
    payload = result_payload(
        bridge.codec.encode(member, course), result_id=result_id, passed=percentage >= 80, percentage=percentage,
        requires_grading=grading,
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
