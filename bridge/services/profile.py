"""What the member's profile page shows: trainings held, courses open, quiz links."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.adapters.fabman import Course, FabmanClient, FabmanNotFound, Member
from bridge.domain import attempts, cooldown, courses, requirements
from bridge.domain.links import quiz_url
from bridge.errors import NotFound
from bridge.services.deps import Deps


def load_member(fabman: FabmanClient, member_id: int, *, privileges: bool = True) -> Member:
    """The member with trainings (one Fabman call); NotFound for an unknown id."""
    try:
        return fabman.get_member(member_id, trainings=True, privileges=privileges)
    except FabmanNotFound:
        raise NotFound(f"member {member_id} does not exist in Fabman") from None


def load_course(fabman: FabmanClient, course_id: int) -> Course:
    """A course from the cached list; NotFound for an unknown id."""
    try:
        return fabman.course(course_id)
    except FabmanNotFound:
        raise NotFound(f"training course {course_id} does not exist in Fabman") from None


def absolved_trainings(deps: Deps, member_id: int, *, include_offline: bool = False) -> list[dict[str, Any]]:
    """The member's active trainings, the latest per course, of online courses (or all)."""
    fabman, today = deps.fabman, deps.today()
    member = load_member(fabman, member_id, privileges=False)
    held = [r for r in member.trainings or () if courses.is_active(r, today)]
    known = None if all(r.course for r in held) else fabman.courses()
    listed = []
    for record in courses.latest_per_course(held).values():
        course = record.course or (known or {}).get(record.course_id)
        if course is None or not (include_offline or courses.is_online(course)):
            continue
        cs_name, en_name = courses.display_names(course)
        listed.append(
            {
                "id": course.id,
                "title": course.title,
                "cs_name": cs_name,
                "en_name": en_name,
                "date": (record.date or record.from_date or today).isoformat(),
                "until_date": record.until_date.isoformat() if record.until_date else None,
                "record_id": record.id,
                "online": courses.is_online(course),
            }
        )
    return sorted(listed, key=lambda item: (item["title"].casefold(), item["id"]))


def _offer(deps: Deps, member: Member, course: Course, missing: tuple[int, ...] = ()) -> dict[str, Any]:
    """A course as offered to one member: names, links and attempts.

    While the member waits after a failed attempt (section 12) there is no
    link and `available_at` says when the next attempt opens (ISO, TIMEZONE);
    otherwise `available_at` is null. A missing required course (section 15)
    also means no link; `missing` names it.
    """
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    used = attempts.attempts_used(member.metadata, course.id)
    left = max(0, allowed - used)
    hours = cooldown.schedule(course, deps.settings.cooldown_hours)
    waiting = cooldown.waiting_until(member.metadata, course.id, hours, deps.now()) if left > 0 else None
    cm_url = courses.setting(course, "cm_url")
    open_now = left > 0 and waiting is None and courses.is_online(course) and not missing
    link = quiz_url(cm_url, deps.codec.encode(member.id, course.id)) if open_now else None
    cs_name, en_name = courses.display_names(course)
    return {
        "id": course.id,
        "title": course.title,
        "cs_name": cs_name,
        "en_name": en_name,
        "wiki_url": courses.setting(course, "wiki_url"),
        "yt_url": courses.setting(course, "yt_url"),
        "quiz_url": link,
        "attempts": used,
        "max_attempts": allowed,
        "attempts_left": left,
        "available_at": waiting.astimezone(deps.settings.tz).isoformat(timespec="seconds") if waiting else None,
        "missing": list(missing),
    }


def missing_requirements(member: Member, course: Course, known: dict[int, Course], today: dt.date) -> tuple[int, ...]:
    """Required courses the member does not hold now; with unmeetable requirements, the ids that break them."""
    problem = requirements.problem_of(course, known)
    if problem is not None:
        return problem.blocking
    return requirements.missing(course, courses.active_course_ids(member.trainings or (), today))


def available_trainings(deps: Deps, member_id: int) -> list[dict[str, Any]]:
    """Online courses the member may take now (not held, visible to them)."""
    today = deps.today()
    member = load_member(deps.fabman, member_id)
    held = courses.active_course_ids(member.trainings or (), today)
    known = deps.fabman.courses()
    offers = [
        {key: value for key, value in _offer(deps, member, course).items() if key != "missing"}
        for course in known.values()
        if courses.is_online(course)
        and course.id not in held
        and courses.visible_to(course, member)
        and not missing_requirements(member, course, known, today)
    ]
    return sorted(offers, key=lambda item: (item["title"].casefold(), item["id"]))


LINK_FIELDS = (
    "quiz_url",
    "title",
    "cs_name",
    "en_name",
    "wiki_url",
    "yt_url",
    "attempts",
    "attempts_left",
    "max_attempts",
    "available_at",
    "missing",
)


def training_links(deps: Deps, member_id: int, course_id: int) -> dict[str, Any]:
    """The personal quiz link and materials of one course for one member."""
    member = load_member(deps.fabman, member_id)
    course = load_course(deps.fabman, course_id)
    if not courses.visible_to(course, member):
        raise NotFound(f"training course {course_id} is not offered to member {member_id}")
    offer = _offer(deps, member, course, missing_requirements(member, course, deps.fabman.courses(), deps.today()))
    return {key: offer[key] for key in LINK_FIELDS}
