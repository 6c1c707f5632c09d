"""Courses that build on each other, and trainings that live on use (contract section 15).

Two keys of a course's `metadata.courses_cm`:

- `requires`: ids of courses the member must hold (an active record) before
  taking this one. Ids may be numbers or digit strings. A list that names an
  unknown course, is not a list of ids, or closes a cycle through the course
  (A requires B requires A) makes the course unavailable online: nobody could
  ever satisfy it, so staff must fix it (the console's overview lists them).
- `renew_on_use`: `true` makes each permitted use of the course's equipment
  renew the member's training (:mod:`bridge.services.renewals`).

Plain rules over plain data: the course list and the member's held courses
are given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.domain.courses import is_active, setting
from bridge.domain.models import Course, TrainingRecord


@dataclass(frozen=True)
class RequirementProblem:
    """Why a course's requirements can never be met: the ids that break them and how."""

    course_id: int
    unknown: tuple[int, ...] = ()
    cycle: tuple[int, ...] = ()
    malformed: bool = False

    @property
    def blocking(self) -> tuple[int, ...]:
        """The ids to name as missing: the unknown ones, else the cycle's other courses."""
        return self.unknown or tuple(i for i in self.cycle if i != self.course_id) or self.cycle

    def describe(self) -> str:
        """One line for staff."""
        if self.malformed:
            return "`requires` is not a list of course ids"
        if self.unknown:
            return "requires unknown course(s) " + ", ".join(map(str, self.unknown))
        return "requirements form a cycle: " + " -> ".join(map(str, (*self.cycle, self.cycle[0])))


def _as_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) or None
    return None


def required_ids(course: Course) -> tuple[int, ...]:
    """The course ids the course requires, in order, without repeats (unreadable entries left out)."""
    value = setting(course, "requires")
    if not isinstance(value, list):
        return ()
    ids = [_as_id(item) for item in value]
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _malformed(course: Course) -> bool:
    value = setting(course, "requires")
    if value is None:
        return False
    return not isinstance(value, list) or any(_as_id(item) is None for item in value)


def problem_of(course: Course, known: Mapping[int, Course]) -> RequirementProblem | None:
    """What makes the course's requirements impossible (None when they can be met)."""
    if _malformed(course):
        return RequirementProblem(course.id, malformed=True)
    unknown = tuple(i for i in required_ids(course) if i not in known)
    if unknown:
        return RequirementProblem(course.id, unknown=unknown)
    cycle = _cycle_through(course.id, known)
    return RequirementProblem(course.id, cycle=cycle) if cycle else None


def _cycle_through(start: int, known: Mapping[int, Course]) -> tuple[int, ...]:
    """A path start -> ... -> start along `requires`, or () when there is none (bounded by the course count)."""
    paths: list[tuple[int, ...]] = [(start,)]
    seen: set[int] = set()
    while paths:
        path = paths.pop()
        course = known.get(path[-1])
        for next_id in required_ids(course) if course else ():
            if next_id == start:
                return path
            if next_id not in seen and next_id in known:
                seen.add(next_id)
                paths.append((*path, next_id))
    return ()


def problems(known: Mapping[int, Course]) -> list[RequirementProblem]:
    """Every course whose requirements cannot be met, by id (for the console's overview)."""
    found = (problem_of(course, known) for _, course in sorted(known.items()))
    return [problem for problem in found if problem is not None]


def held_on(records: Iterable[TrainingRecord], day: dt.date) -> set[int]:
    """Courses with a record valid on `day`: begun by then and active on it.

    A record begins at the earlier of its `date` and `fromDate`: a training
    renewed on use keeps its first `date` while `fromDate` moves to the renewal.
    """
    return {record.course_id for record in records if _began(record) <= day and is_active(record, day)}


def _began(record: TrainingRecord) -> dt.date:
    days = [day for day in (record.date, record.from_date) if day is not None]
    return min(days) if days else dt.date.min


def missing(course: Course, held: set[int]) -> tuple[int, ...]:
    """The required courses the member does not hold."""
    return tuple(i for i in required_ids(course) if i not in held)


def renews_on_use(course: Course) -> bool:
    """Whether each permitted use of the course's equipment renews its trainings."""
    value = setting(course, "renew_on_use")
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value is True
