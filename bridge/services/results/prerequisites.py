"""Apply-time check of a course's requirements (contract section 15).

A pass from a member who did not hold every required course when the quiz
finished grants nothing (held: the member hears what is missing, staff are
alerted and may replay it); a fail is not counted. A staff replay of a held
pass judges the requirements as the member holds them on the day of the
replay, so it grants once the member has taken the missing course.
Requirements that can never be met (an unknown course, a cycle) hold the
result the same way.
"""

from __future__ import annotations

from bridge.adapters.fabman import Course, Member
from bridge.domain import attempts, courses, requirements
from bridge.domain.calendar import today_in
from bridge.domain.results import QuizResult, notes_name_result
from bridge.domain.statuses import HoldReason, Outcome
from bridge.services.deps import Deps
from bridge.services.results.receipts import Applied, Held


def unmet_requirements(
    deps: Deps, result: QuizResult, member: Member, course: Course, *, replayed: bool = False
) -> Applied | Held | None:
    """What applying does when the member lacked a required course; None when the result may count.

    The member must come with trainings. A result whose effect is already in
    Fabman (a record naming it, or a counted fail) is left to the usual path,
    so applying stays idempotent.
    """
    if courses.setting(course, "requires") is None:
        return None
    known = deps.fabman.courses()
    problem = requirements.problem_of(course, known)
    finished = result.time_finished or deps.now()
    day = deps.today() if replayed else today_in(deps.settings.tz, finished)
    missing = problem.blocking if problem else requirements.missing(course, requirements.held_on(member.trainings or (), day))
    if not missing or _already_applied(result, member, course):
        return None
    if result.passed:
        return Held(HoldReason.MISSING_REQUIREMENT, member, course, missing=tuple(missing))
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    return Applied(Outcome.REQUIREMENT_NOT_COUNTED, member, course, left, allowed, missing=tuple(missing))


def _already_applied(result: QuizResult, member: Member, course: Course) -> bool:
    if result.passed:
        return any(r.course_id == course.id and notes_name_result(r.notes, result.result_id) for r in member.trainings or ())
    return attempts.was_counted(member.metadata, result.result_id)


def missing_courses(deps: Deps, applied: Applied | Held) -> list[Course | int]:
    """The missing courses as Fabman names them (an unknown id stays an id)."""
    known = deps.fabman.courses()
    return [known.get(course_id, course_id) for course_id in applied.missing]
