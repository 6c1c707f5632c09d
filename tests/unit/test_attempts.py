"""Failed attempts in member metadata: counted once, other keys never lost."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bridge.domain import attempts

JAN: dict[str, Any] = {
    "courses_cm": {
        "failed_courses": [
            {"id": 4, "title": "CNC frézka", "attempts": 2},
            {"id": 2, "title": "Laserová řezačka", "attempts": 3},
        ],
        "staff_note": "keep me",
    },
    "other": "keep",
}


@pytest.mark.parametrize("metadata", [None, {}, {"courses_cm": None}, {"courses_cm": {"failed_courses": "broken"}}])
def test_first_failure_creates_the_entry_at_one(metadata: dict[str, Any] | None) -> None:
    updated = attempts.with_failed_attempt(metadata, 7, "Pájení", "r1")

    assert attempts.failed_entries(updated) == [{"id": 7, "title": "Pájení", "attempts": 1}]
    assert attempts.attempts_used(updated, 7) == 1


def test_failure_adds_one_in_place_and_keeps_everything_else() -> None:
    original = copy.deepcopy(JAN)

    updated = attempts.with_failed_attempt(JAN, 4, "CNC frézka", "r1")

    assert JAN == original
    assert updated["other"] == "keep"
    assert updated["courses_cm"]["staff_note"] == "keep me"
    assert attempts.failed_entries(updated) == [
        {"id": 4, "title": "CNC frézka", "attempts": 3},
        {"id": 2, "title": "Laserová řezačka", "attempts": 3},
    ]


def test_failure_keeps_keys_staff_added_to_an_entry_and_accepts_string_ids() -> None:
    metadata = {"courses_cm": {"failed_courses": [{"id": "4", "title": "CNC", "attempts": "1", "by": "staff"}]}}

    updated = attempts.with_failed_attempt(metadata, 4, "CNC frézka", "r1")

    assert attempts.failed_entries(updated) == [{"id": "4", "title": "CNC", "attempts": 2, "by": "staff"}]


def test_duplicate_entries_merge_into_the_first() -> None:
    metadata = {"courses_cm": {"failed_courses": [{"id": 4, "attempts": 1}, {"id": 2, "attempts": 1}, {"id": 4, "attempts": 2}]}}

    updated = attempts.with_failed_attempt(metadata, 4, "CNC", "r1")

    assert [(e["id"], e["attempts"]) for e in attempts.failed_entries(updated)] == [(4, 3), (2, 1)]


def test_a_result_is_counted_once() -> None:
    once = attempts.with_failed_attempt(None, 4, "CNC", "r1")

    assert attempts.was_counted(once, "r1")
    assert not attempts.was_counted(once, "r2")
    assert not attempts.was_counted(None, "r1")


def test_only_the_newest_results_are_remembered() -> None:
    metadata: dict[str, Any] | None = None
    for number in range(attempts.REMEMBERED_RESULTS + 5):
        metadata = attempts.with_failed_attempt(metadata, 4, "CNC", f"r{number}")

    assert not attempts.was_counted(metadata, "r0")
    assert attempts.was_counted(metadata, f"r{attempts.REMEMBERED_RESULTS + 4}")
    assert len(metadata["courses_cm"]["counted_results"]) == attempts.REMEMBERED_RESULTS  # type: ignore[index]


@pytest.mark.parametrize(
    ("metadata", "allowed", "left"),
    [
        (JAN, 5, 3),
        (None, 3, 3),
        ({"courses_cm": {"failed_courses": [{"id": 4, "attempts": 9}]}}, 3, 0),
        ({"courses_cm": {"failed_courses": [{"id": 4, "attempts": "junk"}]}}, 3, 3),
        ({"courses_cm": {"failed_courses": [{"id": None, "attempts": 2}, "junk"]}}, 3, 3),
    ],
)
def test_attempts_left_is_never_negative(metadata: dict[str, Any] | None, allowed: int, left: int) -> None:
    assert attempts.attempts_left(metadata, 4, allowed) == left


def test_clearing_removes_only_the_course_entry() -> None:
    cleared = attempts.without_failed_course(JAN, 2)

    assert cleared["other"] == "keep" and cleared["courses_cm"]["staff_note"] == "keep me"
    assert attempts.failed_entries(cleared) == [{"id": 4, "title": "CNC frézka", "attempts": 2}]
    assert attempts.has_failed_entry(JAN, 2) and not attempts.has_failed_entry(cleared, 2)
    assert attempts.failed_entries(JAN)[1]["id"] == 2
