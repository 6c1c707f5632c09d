"""The retry job and staff replays.

The retry job no longer applies results itself: it wakes the appliers (see
:mod:`bridge.background.applier`) for what is due and reports what became of
it. A staff replay puts one event back and processes it at once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable

from bridge.answers import answer, described
from bridge.domain.statuses import REPLAYABLE, EventStatus, FabmanOutcome, ReceiptStatus
from bridge.services.deps import Deps
from bridge.services.results.processing import process
from bridge.services.results.receipts import Receipt

SETTLE_CHECK_SECONDS = 0.25
"""How often a retry run looks again at results another process may be applying."""
COUNTED = (EventStatus.APPLIED, EventStatus.QUEUED, EventStatus.REJECTED, EventStatus.ERROR, EventStatus.DEAD)


@answer
class RetrySummary:
    """What one run of the retry job did: the due results it found and what became of them, the mail it sent,
    and the Fabman events it handled again (`fabman_events_<outcome>`, one count per outcome)."""

    processed: int = described(2, "Due results that were tried.")
    applied: int = described(2)
    queued: int = described(0, "Tried and queued again, with their backoff.")
    rejected: int = described(0)
    error: int = described(0)
    dead: int = described(0)
    waiting: int = described(0, "Still due or being applied when the run stopped waiting.")
    mails_sent: int = described(2)
    mails_failed: int = described(0)
    mails_dead: int = described(0)
    fabman_events: dict[FabmanOutcome, int] = described({}, spread=True, default_factory=dict)


def retry_due(
    deps: Deps,
    *,
    wake: Callable[[], None],
    wait_idle: Callable[[float], bool],
    within: float,
    stopping: Callable[[], bool] = lambda: False,
    limit: int = 1000,
) -> RetrySummary:
    """Wake the appliers for the queued results that are due, wait until each was tried, then send due mail.

    The appliers do the work (this process's, and any other's that takes one
    first); the run waits at most `within` seconds, or until its worker is
    stopping, and counts from the store what became of each result it found
    due: `processed` were tried (and are now `applied`, `queued` again with
    their backoff, `rejected`, `error` or `dead`), `waiting` were still due or
    being applied when it stopped waiting.
    """
    due = deps.store.inbox.due_ids(limit)
    tried_before = {event_id: attempts for event_id, (_, attempts, _) in deps.store.inbox.states(due).items()}
    counts: Counter[str] = Counter()
    waiting = 0
    if due:
        wake()
        deadline = time.monotonic() + within
        left = dict(tried_before)
        # This process's appliers take what they can; a worker told to stop (SIGTERM) stops waiting at once.
        while not wait_idle(min(SETTLE_CHECK_SECONDS, max(0.0, deadline - time.monotonic()))):
            if stopping() or time.monotonic() >= deadline:
                break
        while left:
            for event_id, (status, attempts, lease_until) in deps.store.inbox.states(list(left)).items():
                if status != EventStatus.QUEUED or (attempts > left[event_id] and lease_until is None):
                    left.pop(event_id)
                    counts[status if status in COUNTED else EventStatus.ERROR] += 1
            if not left or time.monotonic() >= deadline or stopping():
                break
            time.sleep(SETTLE_CHECK_SECONDS)  # polling the store: the other process tells this one nothing
        waiting = len(left)
    report = deps.sender.send_due()
    return RetrySummary(
        processed=counts.total(),
        applied=counts[EventStatus.APPLIED],
        queued=counts[EventStatus.QUEUED],
        rejected=counts[EventStatus.REJECTED],
        error=counts[EventStatus.ERROR],
        dead=counts[EventStatus.DEAD],
        waiting=waiting,
        mails_sent=report.sent,
        mails_failed=report.failed,
        mails_dead=report.dead,
    )


def replay(deps: Deps, event_id: int) -> Receipt:
    """Staff put a dead, failed or rejected event back and process it now."""
    event = deps.store.inbox.get(event_id)
    if event is None:
        return Receipt(status=ReceiptStatus.UNKNOWN, event_id=event_id, detail="no such event")
    if event.status not in REPLAYABLE:
        allowed = ", ".join(REPLAYABLE)
        detail = f"event is {event.status}; only {allowed} events replay"
        return Receipt(status=EventStatus(event.status), event_id=event_id, detail=detail)
    # Due only after a lease's time and not announced: another process woken now would take it
    # before this one's claim below, and staff would read "duplicate" for a replay that ran.
    held_until = deps.now() + dt.timedelta(seconds=deps.settings.lease_seconds)
    if not deps.store.inbox.requeue(event_id, not_before=held_until):
        return Receipt(
            status=ReceiptStatus.DUPLICATE, event_id=event_id, detail="being processed right now; try again in a moment"
        )
    return process(deps, event_id, statuses=(EventStatus.QUEUED,))
