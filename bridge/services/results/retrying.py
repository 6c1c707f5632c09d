"""The retry job and staff replays: both take events back through processing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.domain.statuses import REPLAYABLE, EventStatus
from bridge.services.deps import Deps
from bridge.services.results.processing import process
from bridge.services.results.receipts import Receipt


def retry_due(deps: Deps, *, limit: int = 200, keep_going: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """Process queued events that are due, then send due mail; a summary of counts.

    `keep_going` is asked before each event: a worker shutting down stops
    taking events (those left stay queued and free for any other worker).
    """
    summary = {"processed": 0, "applied": 0, "queued": 0, "rejected": 0, "error": 0, "dead": 0}
    for event_id in deps.store.due_event_ids(limit):
        if not keep_going():
            break
        receipt = process(deps, event_id)
        summary["processed"] += 1
        if receipt.status in summary:
            summary[receipt.status] += 1
    report = deps.outbox.flush(limit=1000)
    return {**summary, "mails_sent": report.sent, "mails_failed": report.failed, "mails_dead": report.dead}


def replay(deps: Deps, event_id: int) -> Receipt:
    """Staff put a dead, failed or rejected event back and process it now."""
    event = deps.store.get_event(event_id)
    if event is None:
        return Receipt("unknown", event_id, detail="no such event")
    if event.status not in REPLAYABLE:
        allowed = ", ".join(REPLAYABLE)
        return Receipt(event.status, event_id, detail=f"event is {event.status}; only {allowed} events replay")
    if not deps.store.requeue_event(event_id):
        return Receipt("duplicate", event_id, detail="being processed right now; try again in a moment")
    return process(deps, event_id, statuses=(EventStatus.QUEUED,))
