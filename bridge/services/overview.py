"""Where a member stands with every course they can see, and what to do next (contract section 14).

One Fabman call for the member (with trainings and privileges) and the
cached course list; every decision is :func:`bridge.domain.standing.decide`,
fed by the same rules as `/available_trainings` and `/get_training_links`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from bridge.answers import answer, described
from bridge.domain import attempts, cooldown, courses, requirements, standing
from bridge.domain.links import quiz_url
from bridge.domain.models import Course, Member, TrainingRecord
from bridge.domain.statuses import CourseState
from bridge.services.deps import Deps
from bridge.services.profile import load_member


@answer
class NextStepText:
    """The member's next step, one sentence in each language."""

    cs: str = described("Platnost skončila 3. 3. 2026; zopakujte test zde.")
    en: str = described("Expired on 3 March 2026; retake the quiz here.")


@answer
class CourseOverview:
    """One course as the member's profile page shows it: where they stand and what to do next."""

    id: int = described(1, "Training course id.")
    title: str = described("Bezpečnost v dílně")
    cs_name: str = described("Bezpečnost v dílně")
    en_name: str = described("Workshop safety")
    state: CourseState = described(CourseState.EXPIRED, "Where the member stands (exactly one).")
    until_date: dt.date | None = described(
        dt.date(2026, 3, 3), "End of the record that counts (held, expiring, expired); null otherwise or never."
    )
    quiz_url: str | None = described(
        "https://www.classmarker.com/online-test/start/?quiz=bzp7c1e2a9f04&cm_user_id=gAAAAABp...",
        "The personal quiz link when the member may take the quiz now (expiring, expired, available); else null.",
    )
    attempts_left: int = described(3, "Attempts left for an online course (0 for presence-only ones).")
    available_at: dt.datetime | None = described(
        None, "While a waiting period runs: when the next attempt opens (ISO, TIMEZONE)."
    )
    missing: list[int] = described([], "Ids of required courses the member does not hold.")
    next_step: NextStepText = described(description="What to do next, one sentence in Czech and in English.")

    @property
    def until(self) -> dt.date | None:
        """`until_date` (for pages that format it)."""
        return self.until_date


def counting_record(records: Iterable[TrainingRecord], today: dt.date) -> TrainingRecord | None:
    """The record that says where the member stands: the active one lasting longest, else the latest one."""
    own = list(records)
    active = [r for r in own if courses.is_active(r, today)]
    if active:
        return max(active, key=lambda r: (r.until_date is None, r.until_date or dt.date.min, r.id))
    return courses.latest_per_course(own).get(own[0].course_id) if own else None


def _visible(course: Course, member: Member, records: Mapping[int, list[TrainingRecord]]) -> bool:
    """Admin-only courses for admins and owners; archived ones only where the member holds or held a record."""
    return courses.visible_to(course, member) and (course.state == "active" or course.id in records)


def facts_of(deps: Deps, member: Member, course: Course, known: Mapping[int, Course], held: set[int]) -> standing.CourseFacts:
    """Everything the decision needs about one member and one course."""
    own = [r for r in member.trainings or () if r.course_id == course.id]
    problem = requirements.problem_of(course, known)
    missing = problem.blocking if problem else requirements.missing(course, held)
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    hours = cooldown.schedule(course, deps.settings.cooldown_hours)
    waiting = cooldown.waiting_until(member.metadata, course.id, hours, deps.now()) if left > 0 else None
    return standing.CourseFacts(
        online=courses.is_online(course),
        record=counting_record(own, deps.today()),
        attempts_left=left,
        waiting_until=waiting,
        missing=missing,
        missing_names=tuple(courses.display_names(known[i]) for i in missing if i in known),
        requirements_broken=problem is not None,
        renews_on_use=requirements.renews_on_use(course),
    )


def describe(deps: Deps, member: Member, course: Course, facts: standing.CourseFacts) -> CourseOverview:
    """One course's answer from its facts."""
    decided = standing.decide(facts, deps.today(), deps.settings.reminder_days)
    step = standing.next_step(decided, facts, deps.settings.tz)
    cs_name, en_name = courses.display_names(course)
    link = quiz_url(courses.setting(course, "cm_url"), deps.codec.encode(member.id, course.id)) if decided.offers_link else None
    until = facts.record.until_date if facts.record else None
    waiting = facts.waiting_until
    return CourseOverview(
        id=course.id,
        title=course.title,
        cs_name=cs_name,
        en_name=en_name,
        state=decided.state,
        until_date=until,
        quiz_url=link,
        attempts_left=facts.attempts_left if facts.online else 0,
        available_at=waiting.astimezone(deps.settings.tz).replace(microsecond=0) if waiting else None,
        missing=list(facts.missing),
        next_step=NextStepText(cs=step.cs, en=step.en),
    )


def training_overview(deps: Deps, member_id: int) -> list[CourseOverview]:
    """Every course the member can see, with its state and next step, sorted by title."""
    member = load_member(deps.fabman, member_id)
    return overview_of(deps, member, deps.fabman.courses())


def overview_of(deps: Deps, member: Member, known: Mapping[int, Course]) -> list[CourseOverview]:
    """The overview of a member already loaded with trainings and privileges (the console's member page)."""
    records: dict[int, list[TrainingRecord]] = {}
    for record in member.trainings or ():
        records.setdefault(record.course_id, []).append(record)
    held = courses.active_course_ids(member.trainings or (), deps.today())
    listed = [
        describe(deps, member, course, facts_of(deps, member, course, known, held))
        for course in known.values()
        if _visible(course, member, records)
    ]
    return sorted(listed, key=lambda item: (item.title.casefold(), item.id))
