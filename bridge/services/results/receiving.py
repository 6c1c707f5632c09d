"""Receiving a verified ClassMarker delivery: what it is, and storing it once."""

from __future__ import annotations

import logging
from typing import Any

from bridge.adapters.codec import redact
from bridge.domain.results import parse_delivery
from bridge.domain.statuses import EventStatus
from bridge.services.deps import Deps
from bridge.services.results.processing import process
from bridge.services.results.receipts import Receipt

log = logging.getLogger(__name__)


def receive(deps: Deps, body: bytes, payload: Any) -> Receipt:
    """Store a verified delivery and try to apply it now; the receipt is the webhook's answer."""
    delivery = parse_delivery(payload)
    if delivery.kind == "verify":
        return Receipt("ignored", detail="ClassMarker verification ping acknowledged")
    if delivery.kind == "group":
        log.info("result without cm_user_id (group result or a quiz taken without a personal link) ignored")
        return Receipt("ignored", detail="results without a cm_user_id (group results) are not used by the bridge")
    result = delivery.result
    assert result is not None
    grading = result.requires_grading
    event, created = deps.store.receive_event(
        result_key=f"{result.result_id}:ungraded" if grading else result.result_id,
        status=EventStatus.AWAITING_GRADING if grading else EventStatus.QUEUED,
        passed=result.passed,
        test_name=result.test_name,
        payload=body.decode("utf-8", "replace"),
    )
    if not created:
        log.info("result %s delivered again; event %s is %s", result.result_id, event.id, event.status)
        return Receipt("duplicate", event.id, detail=f"already received; event is {event.status}")
    if grading:
        return Receipt("ignored", event.id, detail="stored; waiting for the graded result")
    log.info("result %s stored as event %s (cm_user_id %s)", result.result_id, event.id, redact(result.cm_user_id))
    receipt = process(deps, event.id)
    if receipt.status == "duplicate":
        # The retry job claimed the new event first; it is stored and being applied.
        return Receipt(EventStatus.QUEUED, event.id, detail="stored; being applied by another worker")
    return receipt
