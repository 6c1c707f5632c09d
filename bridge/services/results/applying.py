"""Changing Fabman for one result: a pass grants the training, a fail counts an attempt.

Safe to repeat: a record whose notes name the result, or a result id already
counted in the member's metadata, means this result's effect is there already.

A result started inside the waiting period after a failure (contract section
12, :mod:`bridge.domain.cooldown`) changes nothing: a pass comes back as
`too_early` (held until staff replay it; a replay waives the wait), a fail
as `not_counted`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.adapters.fabman import Course, FabmanNotFound, FabmanUnavailable, Member, TrainingRecord
from bridge.domain import attempts, cooldown, courses
from bridge.domain.calendar import until_date
from bridge.domain.results import QuizResult, notes_name_result, training_notes
from bridge.services.deps import Deps
from bridge.services.members import MetadataChange, update_metadata
from bridge.services.results.prerequisites import unmet_requirements
from bridge.services.results.receipts import NOT_COUNTED, TOO_EARLY, Applied, Rejected


def apply_result(deps: Deps, result: QuizResult, member_id: int, course_id: int, *, waive_wait: bool = False) -> Applied:
    """Change Fabman for one result (idempotent); raises Rejected or FabmanError.

    `waive_wait` (a staff replay of a held pass) applies a pass started inside the waiting period.
    """
    try:
        member = deps.fabman.get_member(member_id, trainings=True, privileges=False)
    except FabmanNotFound:
        raise Rejected(f"member {member_id} does not exist in Fabman") from None
    try:
        course = deps.fabman.course(course_id)
    except FabmanNotFound:
        raise Rejected(f"training course {course_id} does not exist in Fabman") from None
    held_back = unmet_requirements(deps, result, member, course, replayed=waive_wait)
    if held_back is not None:
        return held_back
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    hours = cooldown.schedule(course, deps.settings.cooldown_hours)
    if result.passed:
        return _apply_pass(deps, result, member, course, allowed, hours if not waive_wait else ())
    return _apply_fail(deps, result, member, course, allowed, hours)


def _started(result: QuizResult) -> dt.datetime | None:
    return result.time_started or result.time_finished


def _apply_pass(
    deps: Deps, result: QuizResult, member: Member, course: Course, allowed: int, hours: tuple[float, ...]
) -> Applied:
    records = [r for r in member.trainings or () if r.course_id == course.id]
    mine = next((r for r in records if notes_name_result(r.notes, result.result_id)), None)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    if mine is None and left <= 0:
        return Applied("blocked_pass", member, course, 0, allowed)
    opens = cooldown.started_too_early(member.metadata, course.id, hours, _started(result)) if mine is None else None
    if opens is not None:
        return Applied(TOO_EARLY, member, course, left, allowed, opens_at=opens)
    if mine is None:
        mine = _create_once(deps, member.id, course, result, deps.today())
    for older in records:
        if older.id != mine.id:
            deps.fabman.delete_training(member.id, older.id)
    _update_metadata(deps, member, lambda metadata: attempts.cleared(metadata, course.id))
    return Applied("granted", member, course, allowed, allowed, record=mine, until=mine.until_date)


def _create_once(deps: Deps, member_id: int, course: Course, result: QuizResult, today: dt.date) -> TrainingRecord:
    """Create the record; if the answer is lost, look for it before giving up."""
    until = until_date(today, course.default_duration, course.default_duration_unit)
    try:
        return deps.fabman.create_training(member_id, course.id, date=today, until_date=until, notes=training_notes(result))
    except FabmanUnavailable:
        existing = [r for r in deps.fabman.list_trainings(member_id) if notes_name_result(r.notes, result.result_id)]
        if existing:
            return existing[0]
        raise


def _apply_fail(
    deps: Deps, result: QuizResult, member: Member, course: Course, allowed: int, hours: tuple[float, ...]
) -> Applied:
    if not attempts.was_counted(member.metadata, result.result_id):
        opens = cooldown.started_too_early(member.metadata, course.id, hours, _started(result))
        if opens is not None:
            left = attempts.attempts_left(member.metadata, course.id, allowed)
            return Applied(NOT_COUNTED, member, course, left, allowed, opens_at=opens)
    finished = result.time_finished or deps.now()

    def count(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if attempts.was_counted(metadata, result.result_id):
            return None
        counted = attempts.with_failed_attempt(metadata, course.id, course.title, result.result_id)
        return cooldown.with_last_failure(counted, course.id, finished) if cooldown.is_on(hours) else counted

    member = _update_metadata(deps, member, count)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    if left <= 0:
        return Applied("out_of_attempts", member, course, left, allowed)
    opens = cooldown.waiting_until(member.metadata, course.id, hours, deps.now())
    return Applied("failed", member, course, left, allowed, opens_at=opens)


def _update_metadata(deps: Deps, member: Member, change: MetadataChange) -> Member:
    """A metadata write that respects lockVersion."""
    return update_metadata(deps.fabman, member, change)
