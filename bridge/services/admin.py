"""Staff tools: reset a member's attempts, inspect events."""

from __future__ import annotations

from typing import Any

from bridge.adapters.fabman import FabmanClient, FabmanNotFound
from bridge.adapters.store import InboxEvent
from bridge.domain import attempts
from bridge.domain.statuses import EventStatus
from bridge.errors import NotFound
from bridge.services.members import update_metadata


def reset_attempts(fabman: FabmanClient, member_id: int, course_id: int) -> dict[str, Any]:
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
    return {"member_id": member_id, "training_id": course_id, "attempts_before": before, "attempts": 0}


def describe_event(event: InboxEvent) -> dict[str, Any]:
    """An inbox row for staff, without the raw payload (it holds the cm_user_id)."""
    return {
        "id": event.id,
        "result_id": event.result_key,
        "status": event.status,
        "outcome": event.outcome,
        "member_id": event.member_id,
        "course_id": event.course_id,
        "passed": event.passed,
        "quiz": event.test_name,
        "attempts": event.attempts,
        "next_attempt_at": event.next_attempt_at.isoformat() if event.next_attempt_at else None,
        "last_error": event.last_error,
        "reason": event.last_error if event.status == EventStatus.REJECTED else None,
        "received_at": event.received_at.isoformat() if event.received_at else None,
        "updated_at": event.updated_at.isoformat() if event.updated_at else None,
        "source": event.source,
    }
