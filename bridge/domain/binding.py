"""Whether a result may count for the course its token names: contract rule 4.10.

A `cm_user_id` says who a quiz link was made for and which course; it does
not say which quiz was taken. Anyone can open any quiz's start URL with any
token pasted in, so a result counts only when the quiz it was taken through
(`link.link_url_id`) is the quiz of the token's course (the `quiz` key of the
course's `cm_url`, as Fabman holds it now). The rules that decided whether the
link was offered are asked again when the result is applied, because links
live on in old mail: the course must still be online and active, an
`admin_only` course still needs an `admin`/`owner` member, the member must be
`active`, and the token must not have been older than `QUIZ_LINK_DAYS` when
the quiz was started.

Plain data in, a :class:`Refusal` (or None) out: no Fabman, no store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bridge.domain import courses
from bridge.domain.models import Course, Member
from bridge.domain.results import QuizResult
from bridge.domain.statuses import RejectReason

ACTIVE = "active"


@dataclass(frozen=True)
class Refusal:
    """Why a result does not count: the reason's code and, for staff, the facts in words."""

    reason: RejectReason
    detail: str
    result_quiz: str | None = None
    course_quiz: str | None = None


def refusal(
    result: QuizResult,
    course: Course,
    member: Member,
    *,
    issued_at: dt.datetime | None,
    link_days: int,
    now: dt.datetime,
) -> Refusal | None:
    """The first rule of 4.10 the result breaks, or None when it may count.

    `member` must carry its privileges when the course is `admin_only`.
    `issued_at` is when the token was made (None for a token that cannot
    tell, which then is not aged); the quiz's start is the result's
    `time_started` (its finish, or `now`, when ClassMarker sent no start).
    """
    expected = courses.quiz_key(course)
    if result.quiz is None or expected is None or result.quiz != expected:
        return Refusal(
            RejectReason.WRONG_QUIZ,
            f"wrong quiz: the result was taken through quiz {result.quiz or '(none)'}, "
            f"but course {course.id} ({course.title}) has quiz {expected or '(none)'}",
            result_quiz=result.quiz,
            course_quiz=expected,
        )
    if not courses.is_online(course):
        why = "archived" if course.state != ACTIVE else "not an online course (presence-only or without a quiz)"
        return Refusal(RejectReason.COURSE_NOT_ONLINE, f"course not online: course {course.id} ({course.title}) is {why}")
    if not courses.visible_to(course, member):
        return Refusal(
            RejectReason.ADMIN_ONLY,
            f"admin-only course: course {course.id} ({course.title}) is for admins and owners, "
            f"and member {member.id} is {member.privileges or 'neither'}",
        )
    if member.state != ACTIVE:
        return Refusal(RejectReason.MEMBER_NOT_ACTIVE, f"member not active: member {member.id} is {member.state}")
    started = result.time_started or result.time_finished or now
    if issued_at is not None and started - issued_at > dt.timedelta(days=link_days):
        age = (started - issued_at).days
        return Refusal(
            RejectReason.LINK_TOO_OLD,
            f"quiz link too old: its token was {age} days old when the quiz was started (QUIZ_LINK_DAYS is {link_days})",
        )
    return None
