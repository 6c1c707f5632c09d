"""Staff tools: reset a member's attempts, inspect events."""

from __future__ import annotations

import datetime as dt

from bridge.adapters.fabman import FabmanClient, FabmanNotFound
from bridge.adapters.store import InboxEvent
from bridge.answers import answer, described
from bridge.domain import attempts
from bridge.domain.statuses import EventSource, EventStatus
from bridge.errors import NotFound
from bridge.services.members import update_metadata

RECEIVED = dt.datetime(2026, 12, 2, 9, 14, 3, tzinfo=dt.UTC)


@answer
class AttemptsReset:
    """What resetting a member's attempts of a course did."""

    member_id: int = described(3)
    training_id: int = described(2, "Training course id.")
    attempts_before: int = described(3)
    attempts: int = described(0)


@answer
class Event:
    """A stored ClassMarker result for staff, without its raw payload (which holds the cm_user_id)."""

    id: int = described(17)
    result_id: str = described("88123401", "ClassMarker's link_result_id (with `:ungraded` while it waits for grading).")
    status: EventStatus = described(EventStatus.APPLIED)
    outcome: str | None = described(
        "granted",
        "What applying did: granted, failed, out_of_attempts, blocked_pass, ...; for a rejected result why "
        "(rejected, too_early, or a rule 4.10 reason: wrong_quiz, course_not_online, admin_only, "
        "member_not_active, link_too_old).",
    )
    member_id: int | None = described(1)
    course_id: int | None = described(2)
    passed: bool | None = described(True)
    quiz: str | None = described("Laserová řezačka – bezpečnost")
    attempts: int = described(1, "How often processing was tried.")
    next_attempt_at: dt.datetime | None = described(None)
    last_error: str | None = described(None)
    reason: str | None = described(None, "Why a rejected result did not count, in words; null unless rejected.")
    received_at: dt.datetime | None = described(RECEIVED)
    updated_at: dt.datetime | None = described(RECEIVED)
    source: EventSource = described(EventSource.WEBHOOK, "How the result reached the bridge.")


def reset_attempts(fabman: FabmanClient, member_id: int, course_id: int) -> AttemptsReset:
    """Clear the member's failed attempts of one course (other metadata untouched)."""
    try:
        member = fabman.get_member(member_id, trainings=False, privileges=False)
    except FabmanNotFound:
        raise NotFound(f"member {member_id} does not exist in Fabman") from None
    try:
        fabman.course(course_id)
    except FabmanNotFound:
        raise NotFound(f"training course {course_id} does not exist in Fabman") from None
    before = attempts.attempts_used(member.metadata, course_id)
    update_metadata(fabman, member, lambda metadata: attempts.cleared(metadata, course_id))
    return AttemptsReset(member_id=member_id, training_id=course_id, attempts_before=before, attempts=0)


def describe_event(event: InboxEvent) -> Event:
    """An inbox row for staff, without the raw payload (it holds the cm_user_id)."""
    status = EventStatus(event.status)
    return Event(
        id=event.id,
        result_id=event.result_key,
        status=status,
        outcome=event.outcome,
        member_id=event.member_id,
        course_id=event.course_id,
        passed=event.passed,
        quiz=event.test_name,
        attempts=event.attempts,
        next_attempt_at=event.next_attempt_at,
        last_error=event.last_error,
        reason=event.last_error if status == EventStatus.REJECTED else None,
        received_at=event.received_at,
        updated_at=event.updated_at,
        source=EventSource(event.source),
    )
