"""The state decision of section 14 and the requirement rules of section 15, as plain functions."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.domain import requirements
from bridge.domain.models import Course, TrainingRecord
from bridge.domain.standing import Blocker, CourseFacts, decide, next_step
from bridge.domain.statuses import CourseState

TODAY = dt.date(2026, 3, 10)
PRAGUE = ZoneInfo("Europe/Prague")


def course(course_id: int, **courses_cm: Any) -> Course:
    return Course(course_id, f"Course {course_id}", "active", 1, "year", {"courses_cm": courses_cm})


def record(until: dt.date | None, since: dt.date = dt.date(2025, 3, 3)) -> TrainingRecord:
    return TrainingRecord(7, 1, since, since, until, None)


def facts(**changes: Any) -> CourseFacts:
    base: dict[str, Any] = {"online": True, "record": None, "attempts_left": 3, "waiting_until": None}
    return CourseFacts(**{**base, **changes})


@pytest.mark.parametrize(
    ("given", "state", "link"),
    [
        (facts(record=record(dt.date(2026, 9, 1))), CourseState.HELD, False),
        (facts(record=record(None)), CourseState.HELD, False),
        (facts(record=record(dt.date(2026, 3, 20))), CourseState.EXPIRING, True),
        (facts(record=record(dt.date(2026, 3, 20)), attempts_left=0), CourseState.EXPIRING, False),
        (facts(record=record(TODAY)), CourseState.EXPIRED, True),  # ending today is expired
        (facts(record=record(dt.date(2026, 3, 3)), missing=(1,)), CourseState.EXPIRED, False),
        (facts(), CourseState.AVAILABLE, True),
        (facts(waiting_until=dt.datetime(2026, 3, 12, 13, tzinfo=dt.UTC)), CourseState.WAITING, False),
        (facts(attempts_left=0, waiting_until=dt.datetime(2026, 3, 12, tzinfo=dt.UTC)), CourseState.OUT_OF_ATTEMPTS, False),
        (facts(missing=(1,), attempts_left=0), CourseState.NEEDS_PREREQUISITE, False),
        (facts(missing=(99,), requirements_broken=True), CourseState.NEEDS_PREREQUISITE, False),
        (facts(online=False), CourseState.IN_PERSON, False),
        (facts(online=False, record=record(dt.date(2026, 3, 3))), CourseState.EXPIRED, False),
    ],
)
def test_each_case_has_exactly_one_state_and_a_link_only_when_the_quiz_may_be_taken(
    given: CourseFacts, state: CourseState, link: bool
) -> None:
    decided = decide(given, TODAY, 14)

    assert (decided.state, decided.offers_link) == (state, link)
    step = next_step(decided, given, PRAGUE)
    assert step.cs.endswith(".") and step.en.endswith(".") and step.cs.count(". ") <= 3


def test_next_steps_read_as_the_member_needs_them() -> None:
    expired = facts(record=record(dt.date(2026, 3, 3)))
    waiting = facts(waiting_until=dt.datetime(2026, 3, 12, 13, 0, 20, tzinfo=dt.UTC))

    assert next_step(decide(expired, TODAY, 14), expired, PRAGUE).en == "Expired on 3 March 2026; retake the quiz here."
    assert (
        next_step(decide(waiting, TODAY, 14), waiting, PRAGUE).en
        == "Wait until Thursday 12 March 2026 14:01 for your next attempt."
    )
    assert next_step(decide(waiting, TODAY, 14), waiting, PRAGUE).cs == "Další pokus je možný od čtvrtka 12. 3. 2026 14:01."
    blocked = facts(record=record(dt.date(2026, 3, 3)), attempts_left=0)
    assert (
        next_step(decide(blocked, TODAY, 14), blocked, PRAGUE).en == "Expired on 3 March 2026; ask staff to reset your attempts."
    )
    assert decide(blocked, TODAY, 14).blocker is Blocker.NO_ATTEMPTS


def test_requirements_cycles_unknown_ids_and_bad_lists_are_problems() -> None:
    known = {
        1: course(1),
        2: course(2, requires=[1]),
        3: course(3, requires=["4"]),
        4: course(4, requires=[3]),
        5: course(5, requires=[99]),
        6: course(6, requires="1"),
        7: course(7, requires=[7]),
        8: course(8, requires=[3]),  # requires a course in a cycle: itself fine, the cycle's courses are not
    }

    found = {problem.course_id: problem for problem in requirements.problems(known)}

    assert set(found) == {3, 4, 5, 6, 7}
    assert found[3].cycle == (3, 4) and found[3].blocking == (4,) and "cycle: 3 -> 4 -> 3" in found[3].describe()
    assert found[5].unknown == (99,) and found[5].blocking == (99,)
    assert found[6].malformed and found[7].blocking == (7,)
    assert requirements.missing(known[2], {1}) == () and requirements.missing(known[2], set()) == (1,)
    assert requirements.required_ids(known[3]) == (4,)


def test_held_when_the_quiz_finished_counts_only_records_begun_and_valid_then() -> None:
    records = [TrainingRecord(1, 1, dt.date(2026, 3, 1), dt.date(2026, 3, 1), dt.date(2027, 3, 1), None)]

    assert requirements.held_on(records, dt.date(2026, 3, 5)) == {1}
    assert requirements.held_on(records, dt.date(2026, 2, 28)) == set()
    assert requirements.held_on(records, dt.date(2027, 3, 1)) == set()
    renewed = [TrainingRecord(2, 1, dt.date(2025, 6, 1), dt.date(2026, 3, 8), dt.date(2026, 9, 8), None)]
    assert requirements.held_on(renewed, dt.date(2026, 3, 5)) == {1}  # renewed on use: held since its first date


@pytest.mark.parametrize(("value", "renews"), [(True, True), ("yes", True), (False, False), (None, False), (1, False)])
def test_renew_on_use_is_a_flag(value: Any, renews: bool) -> None:
    assert requirements.renews_on_use(course(1, renew_on_use=value)) is renews
