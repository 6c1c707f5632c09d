"""Rule 4.10 as a pure rule: which quiz a result was taken through, and whether its link still holds."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from bridge.adapters.classmarker import parse_delivery
from bridge.adapters.fabman.wire import course_from_json, member_from_json
from bridge.domain import courses
from bridge.domain.binding import refusal
from bridge.domain.models import Course, Member
from bridge.domain.results import QuizResult
from bridge.domain.statuses import RejectReason
from harness.classmarker import result_payload

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
START = "https://www.classmarker.com/online-test/start/"


def course(cm_url: str | None = START + "?quiz=lsr41", *, state: str = "active", **settings: Any) -> Course:
    info = {**({"cm_url": cm_url} if cm_url is not None else {}), **settings}
    return course_from_json({"id": 2, "title": "Laserová řezačka", "state": state, "metadata": {"courses_cm": info}})


def member(*, state: str = "active", privileges: str = "member") -> Member:
    data = {"id": 1, "firstName": "Petra", "lastName": "D", "state": state, "metadata": None}
    return member_from_json({**data, "_embedded": {"privileges": {"privileges": privileges}}})


def result(quiz: str | None = "lsr41", started: dt.datetime = NOW) -> QuizResult:
    parsed = parse_delivery(result_payload("token", quiz=quiz)).result
    assert parsed is not None
    return dataclasses.replace(parsed, time_started=started)


def why(res: QuizResult, crs: Course, mem: Member, *, issued_at: dt.datetime | None = NOW) -> RejectReason | None:
    found = refusal(res, crs, mem, issued_at=issued_at, link_days=90, now=NOW)
    return None if found is None else found.reason


@pytest.mark.parametrize(
    ("cm_url", "key"),
    [
        (START + "?quiz=lsr41", "lsr41"),
        (START + "?cm_fn=Petra&quiz=lsr41&x=1", "lsr41"),
        ("  " + START + "?quiz=lsr41  ", "lsr41"),
        (START + "?quiz=", None),
        (START, None),
        (START + "?quiz=a&quiz=b", None),
        (None, None),
    ],
)
def test_the_quiz_key_is_the_quiz_parameter_of_cm_url(cm_url: str | None, key: str | None) -> None:
    assert courses.quiz_key(course(cm_url)) == key


def test_a_result_through_the_courses_own_quiz_counts() -> None:
    assert why(result(), course(), member()) is None


@pytest.mark.parametrize("quiz", ["bzp7c", None, "LSR41", "lsr4"])
def test_any_other_quiz_or_none_is_the_wrong_quiz(quiz: str | None) -> None:
    found = refusal(result(quiz), course(), member(), issued_at=NOW, link_days=90, now=NOW)

    assert found is not None and found.reason == RejectReason.WRONG_QUIZ
    assert (found.result_quiz, found.course_quiz) == (quiz, "lsr41")


def test_a_course_without_a_quiz_takes_no_result() -> None:
    assert why(result(), course(None), member()) == RejectReason.WRONG_QUIZ


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"state": "archived"}, RejectReason.COURSE_NOT_ONLINE),
        ({"not_online": True}, RejectReason.COURSE_NOT_ONLINE),
        ({"admin_only": True}, RejectReason.ADMIN_ONLY),
    ],
)
def test_the_course_is_asked_again(changed: dict[str, Any], reason: RejectReason) -> None:
    assert why(result(), course(**changed), member()) == reason


@pytest.mark.parametrize("privileges", ["admin", "owner"])
def test_an_admin_only_course_still_counts_for_admins_and_owners(privileges: str) -> None:
    assert why(result(), course(admin_only=True), member(privileges=privileges)) is None


def test_a_member_who_is_not_active_gets_nothing() -> None:
    assert why(result(), course(), member(state="locked")) == RejectReason.MEMBER_NOT_ACTIVE


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (dt.timedelta(days=90), None),
        (dt.timedelta(days=90, seconds=1), RejectReason.LINK_TOO_OLD),
        (dt.timedelta(days=-1), None),  # a token that seems newer than its quiz (clocks differ) is not old
    ],
)
def test_the_token_is_aged_to_the_start_of_the_quiz(age: dt.timedelta, reason: RejectReason | None) -> None:
    assert why(result(started=NOW), course(), member(), issued_at=NOW - age) == reason
