"""Processing one stored event: claim it under a lease, apply it, record the outcome."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from bridge.adapters.classmarker import parse_delivery
from bridge.adapters.codec import CmUserIdCodec, InvalidCmUserId, QuizIdentity
from bridge.adapters.fabman import FabmanUnavailable
from bridge.adapters.store import InboxEvent
from bridge.domain.results import QuizResult
from bridge.domain.statuses import EventStatus, HoldReason, ReceiptStatus
from bridge.services.deps import Deps
from bridge.services.results import outcomes
from bridge.services.results.applying import apply_result
from bridge.services.results.receipts import Held, NotCounted, Receipt, Rejected

log = logging.getLogger(__name__)


def process(deps: Deps, event_id: int, *, statuses: Sequence[EventStatus] = (EventStatus.QUEUED,)) -> Receipt:
    """Apply one stored event if no other worker holds it; record the outcome and queue mail."""
    event = deps.store.inbox.claim(event_id, deps.settings.lease_seconds, statuses=statuses)
    if event is None:
        current = deps.store.inbox.get(event_id)
        status = ReceiptStatus.DUPLICATE if current else ReceiptStatus.UNKNOWN
        return Receipt(status=status, event_id=event_id, detail="being processed or already done")
    return apply_claimed(deps, event)


def apply_claimed(deps: Deps, event: InboxEvent) -> Receipt:
    """Apply an event this worker holds the lease of; record the outcome and queue mail (the sender is woken)."""
    receipt = _apply_claimed(deps, event)
    deps.sender.wake()  # every outcome but a deferral committed mail or an alert with it
    return receipt


def _apply_claimed(deps: Deps, event: InboxEvent) -> Receipt:
    result = parse_delivery(json.loads(event.payload)).result
    assert result is not None
    member_id: int | None = None
    course_id: int | None = None
    try:
        identity = _identity(deps.codec, result)
        member_id, course_id = identity.member_id, identity.course_id
        if (event.member_id, event.course_id) != (member_id, course_id):
            deps.store.inbox.note_identity(event.id, member_id, course_id)
        # Only a staff replay puts a held pass back in the queue: it waives the wait (and judges requirements today).
        applied = apply_result(deps, result, identity, waive_wait=event.outcome in set(HoldReason))
    except NotCounted as why:
        outcomes.not_counted(deps, event, result, why)
        return Receipt(status=EventStatus.REJECTED, event_id=event.id, outcome=why.refusal.reason, detail=str(why))
    except Rejected as why:
        outcomes.reject(deps, event, str(why), member_id=member_id, course_id=course_id)
        return Receipt(status=EventStatus.REJECTED, event_id=event.id, detail=str(why))
    except FabmanUnavailable as error:
        return outcomes.defer(deps, event, error)
    except Exception as error:
        log.exception("event %s failed unexpectedly", event.id)
        outcomes.fail(deps, event, result, error)
        return Receipt(status=EventStatus.ERROR, event_id=event.id, detail="unexpected error; staff were alerted")
    if isinstance(applied, Held):
        return outcomes.hold(deps, event, result, applied)
    outcomes.record_applied(deps, event, result, applied)
    return Receipt(status=EventStatus.APPLIED, event_id=event.id, outcome=applied.outcome)


def _identity(codec: CmUserIdCodec, result: QuizResult) -> QuizIdentity:
    try:
        return codec.decode(result.cm_user_id)
    except InvalidCmUserId as error:
        raise Rejected(f"cm_user_id rejected: {error}") from None
