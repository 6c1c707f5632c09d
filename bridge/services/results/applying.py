"""Changing Fabman for one result: a pass grants the training, a fail counts an attempt.

Safe to repeat: a record whose notes name the result, or a result id already
counted in the member's metadata, means this result's effect is there already.

Before anything is written, the result is held to rule 4.10
(:mod:`bridge.domain.binding`): taken through the quiz of the token's course,
the course still online and active and visible to the member, the member
active, the link not older than `QUIZ_LINK_DAYS` when the quiz started.
Otherwise :class:`NotCounted` is raised and Fabman is left alone. A result
whose effect Fabman already shows (a crash after the write) is finished, not
judged again.

A result started inside the waiting period after a failure (contract section
12, :mod:`bridge.domain.cooldown`) changes nothing: a pass comes back as
`too_early` (held until staff replay it; a replay waives the wait), a fail
as `not_counted`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.adapters.codec import QuizIdentity
from bridge.adapters.fabman import Course, FabmanNotFound, FabmanUnavailable, Member, TrainingRecord
from bridge.domain import attempts, binding, cooldown, courses
from bridge.domain.calendar import until_date
from bridge.domain.results import QuizResult, notes_name_result, training_notes
from bridge.domain.statuses import HoldReason, Outcome
from bridge.services.deps import Deps
from bridge.services.members import MetadataChange, update_metadata
from bridge.services.results.prerequisites import unmet_requirements
from bridge.services.results.receipts import Applied, Held, NotCounted, Rejected


def apply_result(deps: Deps, result: QuizResult, identity: QuizIdentity, *, waive_wait: bool = False) -> Applied | Held:
    """Change Fabman for one result (idempotent); raises Rejected (NotCounted under rule 4.10) or FabmanError.

    `waive_wait` (a staff replay of a held pass) applies a pass started inside the waiting period.
    """
    course, member = _read_course_and_member(deps, identity.course_id, identity.member_id)
    if not _effect_shown(result, member, course):
        refusal = binding.refusal(
            result, course, member, issued_at=identity.issued_at, link_days=deps.settings.quiz_link_days, now=deps.now()
        )
        if refusal is not None:
            raise NotCounted(refusal, member, course)
        held_back = unmet_requirements(deps, result, member, course, replayed=waive_wait)
        if held_back is not None:
            return held_back
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    hours = cooldown.schedule(course, deps.settings.cooldown_hours)
    if result.passed:
        return _apply_pass(deps, result, member, course, allowed, hours if not waive_wait else ())
    return _apply_fail(deps, result, member, course, allowed, hours)


def _read_course_and_member(deps: Deps, course_id: int, member_id: int) -> tuple[Course, Member]:
    """The course as Fabman holds it now (its quiz and state decide, 4.10) and the member, read at the same time.

    Two reads in one round trip instead of two: the course on one of the
    app's side-read threads (`Deps.side_reads`, started once, not per result)
    while this one reads the member (with privileges, which an admin-only
    course needs). A missing course or member is a rejection, the course
    named first.
    """
    course_read = deps.side_reads.submit(deps.fabman.read_course, course_id)
    member: Member | None = None
    member_error: Exception | None = None
    try:
        member = deps.fabman.get_member(member_id, trainings=True, privileges=True)
    except Exception as error:  # noqa: BLE001 - raised below, after the course has had its say
        member_error = error
    try:
        course = course_read.result()
    except FabmanNotFound:
        raise Rejected(f"training course {course_id} does not exist in Fabman") from None
    if isinstance(member_error, FabmanNotFound):
        raise Rejected(f"member {member_id} does not exist in Fabman") from None
    if member_error is not None:
        raise member_error
    assert member is not None
    return course, member


def _effect_shown(result: QuizResult, member: Member, course: Course) -> bool:
    """Fabman already shows this result's effect: a record naming it, or its failed attempt counted."""
    if result.passed:
        return any(r.course_id == course.id and notes_name_result(r.notes, result.result_id) for r in member.trainings or ())
    return attempts.was_counted(member.metadata, result.result_id)


def _started(result: QuizResult) -> dt.datetime | None:
    return result.time_started or result.time_finished


def _apply_pass(
    deps: Deps, result: QuizResult, member: Member, course: Course, allowed: int, hours: tuple[float, ...]
) -> Applied | Held:
    records = [r for r in member.trainings or () if r.course_id == course.id]
    mine = next((r for r in records if notes_name_result(r.notes, result.result_id)), None)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    if mine is None and left <= 0:
        return Applied(Outcome.BLOCKED_PASS, member, course, 0, allowed)
    opens = cooldown.started_too_early(member.metadata, course.id, hours, _started(result)) if mine is None else None
    if opens is not None:
        return Held(HoldReason.TOO_EARLY, member, course, opens_at=opens)
    if mine is None:
        mine = _create_once(deps, member.id, course, result, deps.today())
    for older in records:
        if older.id != mine.id:
            deps.fabman.delete_training(member.id, older.id)
    _update_metadata(deps, member, lambda metadata: attempts.cleared(metadata, course.id))
    return Applied(Outcome.GRANTED, member, course, allowed, allowed, record=mine, until=mine.until_date)


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
            return Applied(Outcome.NOT_COUNTED, member, course, left, allowed, opens_at=opens)
    finished = result.time_finished or deps.now()

    def count(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if attempts.was_counted(metadata, result.result_id):
            return None
        counted = attempts.with_failed_attempt(metadata, course.id, course.title, result.result_id)
        return cooldown.with_last_failure(counted, course.id, finished) if cooldown.is_on(hours) else counted

    member = _update_metadata(deps, member, count)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    if left <= 0:
        return Applied(Outcome.OUT_OF_ATTEMPTS, member, course, left, allowed)
    opens = cooldown.waiting_until(member.metadata, course.id, hours, deps.now())
    return Applied(Outcome.FAILED, member, course, left, allowed, opens_at=opens)


def _update_metadata(deps: Deps, member: Member, change: MetadataChange) -> Member:
    """A metadata write that respects lockVersion."""
    return update_metadata(deps.fabman, member, change)
