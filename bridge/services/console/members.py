"""Finding a member, and a member's page: Fabman's trainings and attempts beside the store's evidence, mail and results."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridge.adapters.fabman import FabmanError, FabmanNotFound, Member, TrainingRecord
from bridge.adapters.store.models import LedgerEntry, OutboxMessage
from bridge.domain import attempts, courses, expiry
from bridge.services.console.pages import ResultRow, course_titles, record_title, result_rows
from bridge.services.deps import Deps
from bridge.services.overview import CourseOverview, overview_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingLine:
    """One of a member's training records and where it stands today."""

    record: TrainingRecord
    course_title: str
    state: str
    """active, expiring (within REMINDER_DAYS) or expired."""


@dataclass(frozen=True)
class AttemptLine:
    """Failed attempts of one course, against what the course allows."""

    course_id: int
    course_title: str
    used: int
    allowed: int | None

    @property
    def left(self) -> int | None:
        return None if self.allowed is None else max(0, self.allowed - self.used)


@dataclass(frozen=True)
class MemberPage:
    """A member as Fabman and the bridge know them."""

    member_id: int
    member: Member | None
    fabman_problem: str | None
    trainings: list[TrainingLine]
    attempts: list[AttemptLine]
    evidence: list[LedgerEntry]
    mails: list[OutboxMessage]
    results: list[ResultRow]
    standing: list[CourseOverview] = field(default_factory=list)
    """Where the member stands with each course they can see (as `/training_overview` answers)."""


def find_members(deps: Deps, query: str) -> list[Member]:
    """Members whose name or e-mail matches (Fabman's search)."""
    return deps.fabman.find_members(query.strip(), limit=25)


def member_page(deps: Deps, member_id: int) -> MemberPage:
    """A member's trainings and attempts from Fabman, their evidence, mail and results from the store."""
    store = deps.store
    member: Member | None = None
    problem: str | None = None
    try:
        member = deps.fabman.get_member(member_id, trainings=True, privileges=True)
    except FabmanNotFound:
        problem = "not_found"
    except FabmanError as error:
        log.warning("member page without Fabman: %s", error)
        problem = "unavailable"
    titles = course_titles(deps)
    evidence, _ = store.console.find_ledger(member_id=member_id, limit=100)
    events, _ = store.console.find_events(member_id=member_id, limit=20)
    return MemberPage(
        member_id=member_id,
        member=member,
        fabman_problem=problem,
        trainings=_training_lines(deps, member, titles) if member else [],
        attempts=_attempt_lines(deps, member) if member else [],
        evidence=evidence,
        mails=store.outbox.messages(member_id=member_id, limit=50),
        results=result_rows(deps, events, titles),
        standing=standing(deps, member) if member else [],
    )


def standing(deps: Deps, member: Member) -> list[CourseOverview]:
    """The member's overview (section 14); empty when Fabman's course list cannot be read now."""
    try:
        return overview_of(deps, member, deps.fabman.courses())
    except FabmanError as error:
        log.warning("member page without the course overview: %s", error)
        return []


def _training_lines(deps: Deps, member: Member, titles: dict[int, str]) -> list[TrainingLine]:
    today = deps.today()
    lines = []
    for record in member.trainings or ():
        if expiry.is_expired(record, today):
            state = "expired"
        elif expiry.expires_within(record, today, deps.settings.reminder_days):
            state = "expiring"
        else:
            state = "active"
        lines.append(TrainingLine(record, titles.get(record.course_id) or record_title(record), state))
    order = {"expiring": 0, "active": 1, "expired": 2}
    return sorted(lines, key=lambda line: (order[line.state], line.course_title))


def _attempt_lines(deps: Deps, member: Member) -> list[AttemptLine]:
    try:
        known = deps.fabman.courses()
    except FabmanError:
        known = {}
    lines = []
    for entry in attempts.failed_entries(member.metadata):
        try:
            course_id = int(entry.get("id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        course = known.get(course_id)
        allowed = courses.max_attempts(course, deps.settings.max_course_attempts) if course else None
        title = course.title if course else str(entry.get("title") or course_id)
        lines.append(AttemptLine(course_id, title, attempts.attempts_used(member.metadata, course_id), allowed))
    return lines
