"""Trainings that live on use (contract section 15): a permitted use of a machine renews them.

Fabman's `resourceLog_created` with `details.log.type == "allowed"` is a use
of the equipment that Fabman permitted. For every active course with
`renew_on_use` whose `resources` include that equipment, a member holding an
active record with an `untilDate` gets a new record (the old record's `date`,
`fromDate` today, `untilDate` today plus the course's duration, notes naming
the use), and only then are the older records removed: the member is never
without a valid record. At most once per member, course and day (the
ledger's renewal row says so); no mail. Each renewal is evidence (`renewed`),
written through :meth:`bridge.adapters.store.courses.CourseStore.record_renewal`.

Safe to repeat: a record whose notes name the use is that use's renewal, so
a retried event reuses it instead of creating a second one. Two uses handled
at once by two workers meet at a short store lease per member and course:
the one that wins it renews, the other has nothing left to do that day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from bridge.adapters.fabman import Course, FabmanNotFound, Member, TrainingRecord
from bridge.adapters.store.rules import FabmanEvent
from bridge.domain import courses, requirements
from bridge.domain.calendar import until_date
from bridge.domain.fabman_events import parse_event
from bridge.domain.statuses import FabmanOutcome
from bridge.services.deps import Deps

log = logging.getLogger(__name__)

STORED_DETAIL = "a permitted use of a machine; trainings that renew on use are renewed"
LEASE_SECONDS = 60.0


def is_use(row: FabmanEvent) -> bool:
    """Whether a stored Fabman event is a permitted use of a machine."""
    return parse_event(json.loads(row.payload)).is_machine_use


def renewing_courses(known: dict[int, Course], resource_id: int) -> list[Course]:
    """Active courses that renew on use and unlock the equipment."""
    return [
        course
        for course in known.values()
        if course.state == "active" and resource_id in course.resources and requirements.renews_on_use(course)
    ]


def use_note(resource_id: int, day: dt.date, event_key: str) -> str:
    """The words in a renewed record's notes that name the use (and find it again on a retry)."""
    return f"Renewed on use of equipment #{resource_id} on {day.isoformat()} (Fabman event {event_key})"


def renew_after_use(deps: Deps, row: FabmanEvent) -> FabmanOutcome:
    """Renew the member's trainings that live on use of this equipment; the outcome for the store."""
    assert row.member_id is not None and row.resource_id is not None  # only uses by a member are handled
    renewing = renewing_courses(deps.fabman.courses(), row.resource_id)
    if not renewing:
        return FabmanOutcome.NO_RENEWING_COURSE
    outcomes = [_renew_course(deps, row, course) for course in renewing]
    return FabmanOutcome.RENEWED if FabmanOutcome.RENEWED in outcomes else outcomes[0]


def _renew_course(deps: Deps, row: FabmanEvent, course: Course) -> FabmanOutcome:
    """One course's renewal under a short lease per member and course (another worker's turn: retried later)."""
    assert row.member_id is not None and row.resource_id is not None
    today = deps.today()
    if deps.store.courses.renewed_on(row.member_id, course.id, today):
        return FabmanOutcome.RENEWED_TODAY
    lock, owner = f"renewal:{row.member_id}:{course.id}", f"fabman-event:{row.id}"
    if not deps.store.jobs.take(lock, owner, LEASE_SECONDS):
        return FabmanOutcome.RENEWING_ELSEWHERE  # another use is renewing it right now: once a day is all there is to do
    try:
        if deps.store.courses.renewed_on(row.member_id, course.id, today):
            return FabmanOutcome.RENEWED_TODAY
        try:
            member = deps.fabman.get_member(row.member_id, trainings=True, privileges=False)
        except FabmanNotFound:
            return FabmanOutcome.UNKNOWN_MEMBER
        return _renew(deps, row, member, course, today)
    finally:
        deps.store.jobs.release(lock, owner)


def _renew(deps: Deps, row: FabmanEvent, member: Member, course: Course, today: dt.date) -> FabmanOutcome:
    assert row.resource_id is not None
    records = [r for r in member.trainings or () if r.course_id == course.id]
    note = use_note(row.resource_id, today, row.event_key)
    mine = next((r for r in records if r.notes and note in r.notes), None)
    active = [r for r in records if courses.is_active(r, today)]
    if mine is None:
        if not active:
            return FabmanOutcome.NOT_HELD
        if any(r.until_date is None for r in active):
            return FabmanOutcome.NEVER_EXPIRES
        current = max(active, key=lambda r: (r.until_date or dt.date.max, r.id))
        until = until_date(today, course.default_duration, course.default_duration_unit)
        if until is None or current.until_date is None or until <= current.until_date:
            return FabmanOutcome.ALREADY_LONGER
        first = current.date or current.from_date or today
        mine = deps.fabman.create_training(
            member.id, course.id, date=first, from_date=today, until_date=until, notes=f"{note}; first trained {first}."
        )
    for older in records:
        if older.id != mine.id:
            deps.fabman.delete_training(member.id, older.id)
    _record(deps, row, member, course, mine, today)
    log.info("member %s: training of course %s renewed on use until %s", member.id, course.id, mine.until_date)
    return FabmanOutcome.RENEWED


def _record(deps: Deps, row: FabmanEvent, member: Member, course: Course, record: TrainingRecord, today: dt.date) -> None:
    deps.store.courses.record_renewal(
        member_id=member.id,
        course_id=course.id,
        course_title=course.title,
        day=today,
        fabman_record_id=record.id,
        training_date=record.date,
        until_date=record.until_date,
        what=f"Renewed on use of equipment #{row.resource_id}",
        used_at=row.occurred_at,
        email=member.email,
        evidence={
            "fabman_event": row.event_key,
            "resource_id": row.resource_id,
            "used_at": row.occurred_at.isoformat() if row.occurred_at else None,
            "from_date": today.isoformat(),
        },
    )
