"""What staff do in the console: replay a result, judge one under review, reset a member's attempts.

Each calls its use case and records, in the staff log, who did it to which
result or member and what came of it, or how it failed (the failure is then
raised on to the view).
"""

from __future__ import annotations

from bridge.services import admin, reconcile, results
from bridge.services.admin import AttemptsReset
from bridge.services.deps import Deps
from bridge.services.results import Receipt
from bridge.services.staff_access import audit


def result_target(event_id: int) -> str:
    """How the staff log names a result."""
    return f"result:{event_id}"


def member_target(member_id: int) -> str:
    """How the staff log names a member."""
    return f"member:{member_id}"


def replay(deps: Deps, staff: str, event_id: int) -> Receipt:
    """Replay a result for a staff member (its mail is sent right after), recorded in the staff log."""
    try:
        receipt = results.replay(deps, event_id)
    except Exception as error:
        audit(deps, staff, "replay", result_target(event_id), _failed(error))
        raise
    audit(deps, staff, "replay", result_target(event_id), _came_of(receipt))
    return receipt


def review(deps: Deps, staff: str, event_id: int, *, passed: bool) -> Receipt:
    """Apply a needs_review result with a staff member's verdict, recorded in the staff log."""
    verdict = "passed" if passed else "failed"
    try:
        receipt = reconcile.review(deps, event_id, passed=passed)
    except Exception as error:
        audit(deps, staff, "review", result_target(event_id), f"{verdict}, {_failed(error)}")
        raise
    audit(deps, staff, "review", result_target(event_id), f"{verdict}: {_came_of(receipt)}")
    return receipt


def reset_attempts(deps: Deps, staff: str, member_id: int, course_id: int) -> AttemptsReset:
    """Clear a member's failed attempts of a course for a staff member, recorded in the staff log."""
    try:
        reset = admin.reset_attempts(deps.fabman, member_id, course_id)
    except Exception as error:
        audit(deps, staff, "reset", member_target(member_id), f"course {course_id}: {_failed(error)}")
        raise
    audit(deps, staff, "reset", member_target(member_id), f"course {course_id}: {reset.attempts_before} -> 0")
    return reset


def _came_of(receipt: Receipt) -> str:
    return " ".join(filter(None, (receipt.status, receipt.outcome)))


def _failed(error: Exception) -> str:
    return f"failed: {type(error).__name__}"
