"""Which courses are online, who sees them, how many attempts they allow, and which trainings are active."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bridge.adapters.fabman.wire import course_from_json, member_from_json, record_from_json
from bridge.domain import courses
from bridge.domain.models import Course, Member, TrainingRecord

TODAY = dt.date(2026, 3, 15)
QUIZ = "https://www.classmarker.com/online-test/start/?quiz=abc123"


def course(metadata: Any = None, *, state: str = "active", title: str = "Laserová řezačka", course_id: int = 2) -> Course:
    return course_from_json({"id": course_id, "title": title, "state": state, "metadata": metadata})


def cm(**settings: Any) -> dict[str, Any]:
    return {"courses_cm": settings}


def member(privileges: str | None) -> Member:
    data: dict[str, Any] = {"id": 1, "firstName": "Petra", "lastName": "Dvořáková", "metadata": None}
    if privileges is not None:
        data["_embedded"] = {"privileges": {"privileges": privileges}}
    return member_from_json(data)


def record(until: dt.date | None, *, record_id: int = 1, course_id: int = 2, date: dt.date | None = None) -> TrainingRecord:
    return record_from_json(
        {
            "id": record_id,
            "trainingCourse": course_id,
            "date": (date or dt.date(2025, 3, 1)).isoformat(),
            "untilDate": until.isoformat() if until else None,
        }
    )


# -- active or expired --------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "active"),
    [
        (None, True),
        (TODAY + dt.timedelta(days=1), True),
        (TODAY + dt.timedelta(days=400), True),
        (TODAY, False),
        (TODAY - dt.timedelta(days=1), False),
    ],
    ids=["never-expires", "tomorrow", "next-year", "today", "yesterday"],
)
def test_a_training_is_active_until_its_until_date_arrives(until: dt.date | None, active: bool) -> None:
    assert courses.is_active(record(until), TODAY) is active


def test_active_course_ids_ignore_expired_records() -> None:
    records = [
        record(TODAY, record_id=1, course_id=1),
        record(None, record_id=2, course_id=2),
        record(TODAY + dt.timedelta(days=1), record_id=3, course_id=3),
        record(TODAY - dt.timedelta(days=30), record_id=4, course_id=4),
    ]

    assert courses.active_course_ids(records, TODAY) == {2, 3}


def test_the_latest_record_of_each_course_wins() -> None:
    old = record(None, record_id=5, date=dt.date(2024, 1, 1))
    new = record(None, record_id=3, date=dt.date(2025, 6, 1))
    same_day_higher_id = record(None, record_id=9, course_id=7, date=dt.date(2025, 1, 1))
    same_day_lower_id = record(None, record_id=8, course_id=7, date=dt.date(2025, 1, 1))

    latest = courses.latest_per_course([old, new, same_day_lower_id, same_day_higher_id])

    assert latest[2].id == 3
    assert latest[7].id == 9


# -- online, admin only, names -------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "state", "online"),
    [
        (cm(cm_url=QUIZ), "active", True),
        (cm(cm_url=QUIZ, not_online=False), "active", True),
        (cm(cm_url=QUIZ, not_online=True), "active", False),
        (cm(cm_url=QUIZ, not_online="true"), "active", False),
        (cm(cm_url=QUIZ), "archived", False),
        (cm(cm_url=""), "active", False),
        (cm(cm_url="   "), "active", False),
        (cm(cm_url=None), "active", False),
        (cm(cm_url=42), "active", False),
        (cm(cs_name="Laser"), "active", False),
        (cm(), "active", False),
        ({}, "active", False),
        (None, "active", False),
        ({"courses_cm": None}, "active", False),
        ({"courses_cm": "junk"}, "active", False),
        ({"other": {"cm_url": QUIZ}}, "active", False),
    ],
)
def test_a_course_is_online_with_a_quiz_url_not_presence_only_and_active(metadata: Any, state: str, online: bool) -> None:
    assert courses.is_online(course(metadata, state=state)) is online


@pytest.mark.parametrize(
    ("admin_only", "privileges", "visible"),
    [
        (True, "member", False),
        (True, None, False),
        (True, "admin", True),
        (True, "owner", True),
        ("yes", "member", False),
        (False, "member", True),
        (None, "member", True),
        ("false", "member", True),
    ],
)
def test_admin_only_courses_are_for_admins_and_owners(admin_only: Any, privileges: str | None, visible: bool) -> None:
    settings = cm(cm_url=QUIZ) if admin_only is None else cm(cm_url=QUIZ, admin_only=admin_only)

    assert courses.visible_to(course(settings), member(privileges)) is visible


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (cm(max_attempts=5), 5),
        (cm(max_attempts="5"), 5),
        (cm(max_attempts=0), 0),
        (cm(max_attempts=-1), 3),
        (cm(max_attempts="many"), 3),
        (cm(max_attempts=None), 3),
        (cm(max_attempts=True), 3),
        (cm(max_attempts=[5]), 3),
        (cm(), 3),
        (None, 3),
    ],
)
def test_max_attempts_overrides_the_default_only_when_it_is_a_count(metadata: Any, expected: int) -> None:
    assert courses.max_attempts(course(metadata), 3) == expected


@pytest.mark.parametrize(
    ("metadata", "names"),
    [
        (cm(cs_name="Laserová řezačka", en_name="Laser cutter"), ("Laserová řezačka", "Laser cutter")),
        (cm(cs_name="Laser CZ"), ("Laser CZ", "Title")),
        (cm(en_name="Laser EN"), ("Title", "Laser EN")),
        (cm(cs_name="", en_name=None), ("Title", "Title")),
        (None, ("Title", "Title")),
    ],
)
def test_display_names_fall_back_to_the_title(metadata: Any, names: tuple[str, str]) -> None:
    assert courses.display_names(course(metadata, title="Title")) == names


def test_null_fields_of_a_course_get_fabmans_defaults() -> None:
    parsed = course_from_json(
        {"id": "7", "title": None, "state": None, "defaultDuration": None, "defaultDurationUnit": None, "metadata": None}
    )

    assert (parsed.id, parsed.title, parsed.state, parsed.default_duration, parsed.default_duration_unit) == (
        7,
        "",
        "active",
        0,
        "day",
    )
    assert parsed.courses_cm == {}
