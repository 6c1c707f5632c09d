"""What the member's profile page shows: trainings held, courses open, quiz links."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bridge.adapters.fabman import Course, FabmanClient, FabmanNotFound, Member
from bridge.answers import answer, described
from bridge.domain import attempts, cooldown, courses, requirements
from bridge.domain.links import quiz_url
from bridge.errors import NotFound
from bridge.services.deps import Deps

WAITING = "While the member waits after a failed attempt: when the next attempt opens (ISO, in TIMEZONE); else null."
LASER = "Laserová řezačka"


@answer
class AbsolvedTraining:
    """A training the member holds now (the latest record of its course)."""

    id: int = described(2, "Training course id.")
    title: str = described(LASER)
    cs_name: str = described(LASER)
    en_name: str = described("Laser cutter")
    date: dt.date = described(dt.date(2026, 3, 2))
    until_date: dt.date | None = described(dt.date(2027, 3, 2), "Null: never expires.")
    record_id: int = described(17, "Fabman training record id.", default=0)
    online: bool = described(True, default=True)


@answer
class AvailableTraining:
    """An online course the member may take now, as offered to them."""

    id: int = described(4, "Training course id.")
    title: str = described("CNC frézka")
    cs_name: str = described("CNC frézka")
    en_name: str = described("CNC milling machine")
    wiki_url: str | None = described("https://wiki.example.org/fablab/cnc", default=None)
    yt_url: str | None = described(None, default=None)
    quiz_url: str | None = described(
        "https://www.classmarker.com/online-test/start/?quiz=cnc0a7f3e6b91&cm_user_id=gAAAAABp...",
        "The personal quiz link; null when no attempts are left or while the member waits after a failed attempt.",
    )
    attempts: int = described(2, "Failed attempts so far.")
    max_attempts: int = described(5, default=0)
    attempts_left: int = described(3)
    available_at: dt.datetime | None = described(None, WAITING, default=None)


@answer
class TrainingLinks:
    """One course's personal quiz link and study materials for one member."""

    quiz_url: str | None = described(
        "https://www.classmarker.com/online-test/start/?quiz=lsr41d8a0c2b7&cm_user_id=gAAAAABp...",
        "Null when no attempts are left or while the member waits.",
    )
    title: str = described(LASER)
    cs_name: str = described(LASER)
    en_name: str = described("Laser cutter")
    wiki_url: str | None = described("https://wiki.example.org/fablab/laser")
    yt_url: str | None = described(None)
    attempts: int = described(0, default=0)
    attempts_left: int = described(3)
    max_attempts: int = described(3, default=0)
    available_at: dt.datetime | None = described(None, WAITING, default=None)
    missing: list[int] = described(
        [], "Ids of required courses the member does not hold (then quiz_url is null).", default_factory=list
    )


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


def absolved_trainings(deps: Deps, member_id: int, *, include_offline: bool = False) -> list[AbsolvedTraining]:
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
            AbsolvedTraining(
                id=course.id,
                title=course.title,
                cs_name=cs_name,
                en_name=en_name,
                date=record.date or record.from_date or today,
                until_date=record.until_date,
                record_id=record.id,
                online=courses.is_online(course),
            )
        )
    return sorted(listed, key=lambda item: (item.title.casefold(), item.id))


def _offer(deps: Deps, member: Member, course: Course, missing: tuple[int, ...] = ()) -> AvailableTraining:
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
    return AvailableTraining(
        id=course.id,
        title=course.title,
        cs_name=cs_name,
        en_name=en_name,
        wiki_url=courses.setting(course, "wiki_url"),
        yt_url=courses.setting(course, "yt_url"),
        quiz_url=link,
        attempts=used,
        max_attempts=allowed,
        attempts_left=left,
        available_at=waiting.astimezone(deps.settings.tz).replace(microsecond=0) if waiting else None,
    )


def missing_requirements(member: Member, course: Course, known: dict[int, Course], today: dt.date) -> tuple[int, ...]:
    """Required courses the member does not hold now; with unmeetable requirements, the ids that break them."""
    problem = requirements.problem_of(course, known)
    if problem is not None:
        return problem.blocking
    return requirements.missing(course, courses.active_course_ids(member.trainings or (), today))


def available_trainings(deps: Deps, member_id: int) -> list[AvailableTraining]:
    """Online courses the member may take now (not held, visible to them)."""
    today = deps.today()
    member = load_member(deps.fabman, member_id)
    held = courses.active_course_ids(member.trainings or (), today)
    known = deps.fabman.courses()
    offers = [
        _offer(deps, member, course)
        for course in known.values()
        if courses.is_online(course)
        and course.id not in held
        and courses.visible_to(course, member)
        and not missing_requirements(member, course, known, today)
    ]
    return sorted(offers, key=lambda item: (item.title.casefold(), item.id))


def training_links(deps: Deps, member_id: int, course_id: int) -> TrainingLinks:
    """The personal quiz link and materials of one course for one member."""
    member = load_member(deps.fabman, member_id)
    course = load_course(deps.fabman, course_id)
    if not courses.visible_to(course, member):
        raise NotFound(f"training course {course_id} is not offered to member {member_id}")
    missing = missing_requirements(member, course, deps.fabman.courses(), deps.today())
    offer = _offer(deps, member, course, missing)
    shared = {item.name for item in dataclasses.fields(TrainingLinks)} - {"missing"}
    return TrainingLinks(**{name: getattr(offer, name) for name in shared}, missing=list(missing))
