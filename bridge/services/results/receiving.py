"""Receiving a verified ClassMarker delivery: what it is, and storing it once, before the answer.

The answer never waits for Fabman or SMTP (contract 4.4): the delivery is
stored durably, and when this process has an applier free the new event is
stored already claimed, so applying can start the moment the answer is out.
What can be known without Fabman is answered at once: a verify ping or a group
result is ignored, a repeated result is a duplicate, a `cm_user_id` that does
not decrypt is rejected (staff alerted).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from bridge.adapters.classmarker import parse_delivery
from bridge.adapters.codec import InvalidCmUserId, redact
from bridge.adapters.store import InboxEvent
from bridge.domain.statuses import EventSource, EventStatus, ReceiptStatus
from bridge.services.deps import Deps
from bridge.services.results import outcomes
from bridge.services.results.receipts import Receipt

log = logging.getLogger(__name__)


class Received(NamedTuple):
    """The webhook's answer, and the event the caller now holds and must apply (when `accepted`)."""

    receipt: Receipt
    claimed: InboxEvent | None = None


def receive(deps: Deps, body: bytes, payload: Any, *, apply_now: bool, source: EventSource = EventSource.WEBHOOK) -> Received:
    """Store a verified delivery in one transaction (two for a rejected token).

    With `apply_now` a new, applicable event is stored claimed by the caller,
    who must then apply it (status `accepted`), unless another result of the
    same member is being applied; otherwise it is stored `queued`, for the
    first free applier of any process. Reconciliation stores what it finds here too (`source`
    poll), so a result is stored once whichever way arrives first.
    """
    delivery = parse_delivery(payload)
    if delivery.kind == "verify":
        return Received(Receipt(status=ReceiptStatus.IGNORED, detail="ClassMarker verification ping acknowledged"))
    if delivery.kind == "group":
        log.info("result without cm_user_id (group result or a quiz taken without a personal link) ignored")
        detail = "results without a cm_user_id (group results) are not used by the bridge"
        return Received(Receipt(status=ReceiptStatus.IGNORED, detail=detail))
    result = delivery.result
    assert result is not None
    grading = result.requires_grading
    try:
        identity = deps.codec.decode(result.cm_user_id)
        refused = None
    except InvalidCmUserId as error:
        identity, refused = None, f"cm_user_id rejected: {error}"
    claim = apply_now and identity is not None and not grading
    event, created = deps.store.inbox.receive(
        result_key=f"{result.result_id}:ungraded" if grading else result.result_id,
        status=EventStatus.AWAITING_GRADING if grading else EventStatus.QUEUED,
        passed=result.passed,
        test_name=result.test_name,
        payload=body.decode("utf-8", "replace"),
        member_id=identity.member_id if identity else None,
        course_id=identity.course_id if identity else None,
        claim_seconds=deps.settings.lease_seconds if claim else None,
        source=source,
        percentage=result.percentage,
        finished_at=result.time_finished,
    )
    if not created:
        log.info("result %s delivered again; event %s is %s", result.result_id, event.id, event.status)
        return Received(
            Receipt(status=ReceiptStatus.DUPLICATE, event_id=event.id, detail=f"already received; event is {event.status}")
        )
    if grading:
        return Received(Receipt(status=ReceiptStatus.IGNORED, event_id=event.id, detail="stored; waiting for the graded result"))
    log.info("result %s stored as event %s (cm_user_id %s)", result.result_id, event.id, redact(result.cm_user_id))
    if refused is not None:
        outcomes.reject(deps, event, refused, member_id=None, course_id=None)
        deps.sender.wake()  # the staff alert
        return Received(Receipt(status=EventStatus.REJECTED, event_id=event.id, detail=refused))
    if claim and event.lease_until is not None:
        return Received(
            Receipt(status=ReceiptStatus.ACCEPTED, event_id=event.id, detail="stored; being applied now"), claimed=event
        )
    return Received(Receipt(status=EventStatus.QUEUED, event_id=event.id, detail="stored; applied as soon as an applier is free"))
