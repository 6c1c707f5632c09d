"""Reconciliation: no result is lost even when its webhook is (contract section 11).

A webhook can be lost for good (the bridge down longer than ClassMarker
retries, a secret rotated on one side only, a wrong URL). So the bridge asks
ClassMarker's results API for recent link results and stores every one its
inbox lacks with source `poll`, through the webhook's own receiving and
processing path: the result is turned into the webhook's JSON layout, so the
ledger and the evidence are the same, and the inbox's unique result key makes
whichever of webhook and poll arrives first win (the other is a duplicate).

- Where to start: the newest `time_finished` seen minus an hour, never
  further back than 14 days (an explicit `since` may go further); after a
  run that was cut short, where it stopped. A result awaiting grading holds
  the start back (up to two days after it finished) so its graded version
  is found too.
- Judging: ClassMarker's `passed`; without it, `percentage >=
  percentage_passmark`; without either, the result is stored `needs_review`
  and staff are alerted, never guessed.
- Its quiz (contract 4.10): a result is held to the quiz of its token's
  course through the `link_url_id` of the link it names, from the answer's
  `links` list, or else from the account's links (`GET /v1.json`, asked at
  most once a run). When neither tells it, the result is stored
  `needs_review` (staff alerted) and never applied as it stands. In-progress results are skipped (they
  come back once finished); `requires_grading: Yes` is stored awaiting
  grading, as from the webhook.
- Never hammering: at most 20 requests an hour, counted in the store across
  every process. `request_limit_reached`, an error answer or a spent budget
  ends the run; it records why, keeps what earlier pages brought, and the
  next run tries again.
- The webhook gap: results first found by polling. When it grows, staff get
  one alert a day saying the webhook is probably misconfigured.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import dataclass

from bridge.adapters.classmarker import ClassMarkerClient, ClassMarkerError, InvalidResult, LinkResult, ResultsPage
from bridge.adapters.classmarker.wire import as_webhook, stored_time_finished
from bridge.adapters.codec import InvalidCmUserId
from bridge.adapters.store.reconcile import UNGRADED
from bridge.answers import answer, described, json_object
from bridge.domain.statuses import EventSource, EventStatus, ReceiptStatus
from bridge.services import mails
from bridge.services.deps import Deps
from bridge.services.results import apply_claimed, process, receive
from bridge.services.results.receipts import Receipt

log = logging.getLogger(__name__)

REQUESTS_PER_HOUR = 20
"""ClassMarker's own limit is unsettled (30 an hour per key, one source says): stay well below it."""
OVERLAP = dt.timedelta(hours=1)
LOOKBACK = dt.timedelta(days=14)
GRADING_HOLD = dt.timedelta(days=2)
GAP_WINDOW = dt.timedelta(hours=24)
FOUND_AT = dt.datetime(2026, 12, 2, 9, 14, 3, tzinfo=dt.UTC)


@answer
class ReconcileSummary:
    """What one reconciliation run found and did."""

    pages: int = described(1, "Pages of results read from ClassMarker.")
    seen: int = described(12, "Distinct results listed (overlapping pages counted once).")
    new: int = described(1, "Results the inbox lacked, stored by this run (source poll).")
    applied: int = described(1, "New results applied to Fabman by this run.")
    needs_review: int = described(0, "New results without passed or pass mark.")
    gap: int = described(1, "Results first found by polling in the last 24 hours.")
    gap_total: int = described(3, default=0)
    queued: int = described(0, "New results Fabman refused for now (retried).", default=0)
    rejected: int = described(0, default=0)
    error: int = described(0, default=0)
    dead: int = described(0, default=0)
    awaiting_grading: int = described(0, default=0)
    in_progress: int = described(1, "Results still being taken: skipped.", default=0)
    ignored: int = described(0, "Results without a cm_user_id: nobody to credit.", default=0)
    unreadable: int = described(0, default=0)
    finished_after: int = described(1763708400, "Where the listing started (UNIX seconds).", default=0)
    requests_last_hour: int = described(1, "Of the 20 allowed, shared by every process.", default=0)
    mails_sent: int = described(2, default=0)
    complete: bool = described(True, "Every page was read.")
    stopped: str | None = described(None, "Why the run ended early, or null.")


@answer
class WebhookGap:
    """Results first found by polling: their webhook never reached the bridge."""

    last_24h: int = described(1)
    total: int = described(3)
    last_found_at: dt.datetime | None = described(FOUND_AT)


@answer
class ReconcileRun:
    """The last reconciliation run: when, and whether it read every page."""

    started_at: dt.datetime = described(FOUND_AT)
    finished_at: dt.datetime | None = described(FOUND_AT)
    complete: bool = described(True)
    stopped: str | None = described(None)


@answer
class ReconcileStatus:
    """Reconciliation with ClassMarker's results API and the webhook gap."""

    enabled: bool = described(True, "CLASSMARKER_API_KEY and _SECRET are set.")
    last_run: ReconcileRun | None = described()
    newest_result_seen: dt.datetime | None = described(FOUND_AT)
    requests_last_hour: int = described(1)
    requests_per_hour: int = described(REQUESTS_PER_HOUR)
    webhook_gap: WebhookGap = described()


@dataclass
class ReconcileTally:
    """What one run found and did, result by result."""

    pages: int = 0
    seen: int = 0
    new: int = 0
    applied: int = 0
    needs_review: int = 0
    queued: int = 0
    rejected: int = 0
    error: int = 0
    dead: int = 0
    awaiting_grading: int = 0
    in_progress: int = 0
    ignored: int = 0
    unreadable: int = 0


def reconcile(deps: Deps, api: ClassMarkerClient, *, since: int | None = None) -> ReconcileSummary:
    """One run: list recent results from the watermark (or `since`), store and apply what the inbox lacks; a summary.

    Keys: `pages`, `seen` (distinct results listed), `new` (first found by
    this run), `applied`, `needs_review`, `gap` (results first found by
    polling in the last 24 h), then the other outcomes, where the listing
    started (`finished_after`), and `complete`/`stopped` (why it ended early).
    """
    deps.store.reconcile.start_run()
    state = deps.store.reconcile.state()
    after = since if since is not None else start_from(deps)
    tally = ReconcileTally()
    stopped: str | None = None
    resume: int | None = after
    links = _LinkBook(deps, api)
    try:
        for page in api.recent_results(after, permit=lambda: deps.store.reconcile.take_api_request(REQUESTS_PER_HOUR)):
            tally.pages += 1
            _take_page(deps, page, tally, links)
            if page.newest_finished is not None:
                deps.store.reconcile.note_finished_seen(page.newest_finished)
            resume = page.next_after if page.more else None
    except ClassMarkerError as why:
        stopped = f"{why.reason}: {why}"
        log.warning("reconciliation stopped after %d page(s); the next run goes on from there: %s", tally.pages, why)
    else:
        earlier = state.resume_from if state is not None else None
        # A run from a later `since` does not cover what an earlier, cut-short run left unread.
        resume = int(earlier.timestamp()) if earlier is not None and earlier.timestamp() < after else None
    recent, total, _ = deps.store.reconcile.webhook_gap(deps.now() - GAP_WINDOW)
    if tally.new:
        deps.store.outbox.queue(mails.webhook_gap(deps, deps.today(), recent, total))
    sent = deps.sender.send_due()
    summary = ReconcileSummary(
        pages=tally.pages,
        seen=tally.seen,
        new=tally.new,
        applied=tally.applied,
        needs_review=tally.needs_review,
        gap=recent,
        gap_total=total,
        queued=tally.queued,
        rejected=tally.rejected,
        error=tally.error,
        dead=tally.dead,
        awaiting_grading=tally.awaiting_grading,
        in_progress=tally.in_progress,
        ignored=tally.ignored,
        unreadable=tally.unreadable,
        finished_after=after,
        requests_last_hour=deps.store.reconcile.api_requests_last_hour(),
        mails_sent=sent.sent,
        complete=stopped is None,
        stopped=stopped,
    )
    resume_at = None if resume is None else dt.datetime.fromtimestamp(resume, dt.UTC)
    deps.store.reconcile.finish_run(json_object(summary), stopped, resume_at)
    log.info("reconciliation: %d page(s), %d seen, %d new, gap %d", tally.pages, tally.seen, tally.new, recent)
    return summary


def start_from(deps: Deps) -> int:
    """Where a run starts listing (UNIX seconds): the newest result seen minus an hour, at most 14 days back.

    After a run that was cut short (limit, error, budget) the next one goes
    on where it stopped, so a backlog larger than one hour's budget still
    moves forward. A result stored awaiting grading holds the start at its
    finish for GRADING_HOLD, so its graded version is listed even when that
    webhook is lost.
    """
    now = deps.now()
    floor = now - LOOKBACK
    state = deps.store.reconcile.state()
    if state is not None and state.resume_from is not None:
        return int(max(floor, state.resume_from).timestamp())
    start = floor
    if state is not None and state.newest_finished is not None:
        start = max(floor, min(state.newest_finished, now) - OVERLAP)  # a finish time in the future never freezes it
    for payload in deps.store.reconcile.ungraded_payloads(now - GRADING_HOLD - OVERLAP):
        finished = stored_time_finished(payload)
        if finished is not None and finished > now - GRADING_HOLD:
            start = min(start, finished - dt.timedelta(seconds=1))
    return int(start.timestamp())


def judge(result: LinkResult) -> bool | None:
    """ClassMarker's own `passed`; without it, percentage >= pass mark; None when that cannot be told (never guessed)."""
    if result.passed is not None:
        return result.passed
    if result.percentage is None or result.percentage_passmark is None:
        return None
    return result.percentage >= result.percentage_passmark


def result_key(result: LinkResult) -> str:
    """The inbox key the webhook's receiving gives this result (an ungraded delivery has its own)."""
    return f"{result.result_id}{UNGRADED}" if result.requires_grading else result.result_id


class _LinkBook:
    """The account's links (`GET /v1.json`), asked for once a run and only when a listing lacks a result's link."""

    def __init__(self, deps: Deps, api: ClassMarkerClient) -> None:
        self._deps = deps
        self._api = api
        self._quizzes: dict[str, str] | None = None

    def with_quiz(self, result: LinkResult) -> LinkResult:
        """The result with its link's `link_url_id` filled in when the account's links know it."""
        if result.quiz is not None:
            return result
        if self._quizzes is None:
            self._quizzes = self._api.link_quizzes(permit=lambda: self._deps.store.reconcile.take_api_request(REQUESTS_PER_HOUR))
        quiz = self._quizzes.get(str(result.link.get("link_id")))
        return dataclasses.replace(result, link={**result.link, "link_url_id": quiz}) if quiz else result


def _take_page(deps: Deps, page: ResultsPage, tally: ReconcileTally, links: _LinkBook) -> None:
    tally.unreadable += page.unreadable
    known = deps.store.reconcile.known_result_keys(key for r in page.results for key in (r.result_id, result_key(r)))
    for result in page.results:
        tally.seen += 1
        if result.in_progress:
            tally.in_progress += 1
        elif result.cm_user_id is None:
            tally.ignored += 1  # as from the webhook: taken without a personal link, nobody to credit
        elif result_key(result) not in known and result.result_id not in known:
            # (a graded result already in the inbox makes its ungraded listing old news)
            _take(deps, links.with_quiz(result), tally)


def _take(deps: Deps, result: LinkResult, tally: ReconcileTally) -> None:
    """Store one result the inbox lacks and apply it now, exactly as a webhook delivery would be."""
    passed = judge(result)
    payload = as_webhook(result, passed)
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if passed is None or (result.quiz is None and not result.requires_grading):
        if _store_unjudged(deps, result, body, passed):
            tally.new += 1
            if result.requires_grading:
                tally.awaiting_grading += 1
            else:
                tally.needs_review += 1
        return
    try:
        receipt, claimed = receive(deps, body, payload, apply_now=True, source=EventSource.POLL)
    except InvalidResult as error:
        log.warning("result %s listed by ClassMarker's API cannot be read: %s", result.result_id, error)
        tally.unreadable += 1
        return
    event_id = receipt.event_id
    if receipt.status == ReceiptStatus.DUPLICATE or event_id is None:
        return  # its webhook won the race, or (no event) nothing the bridge uses
    tally.new += 1
    if result.requires_grading:
        tally.awaiting_grading += 1
        return
    if receipt.status == ReceiptStatus.ACCEPTED and claimed is not None:
        receipt = apply_claimed(deps, claimed)
    elif receipt.status == EventStatus.QUEUED:
        receipt = process(deps, event_id)
    _count(tally, receipt)


def _count(tally: ReconcileTally, receipt: Receipt) -> None:
    match receipt.status:
        case EventStatus.APPLIED | EventStatus.QUEUED | EventStatus.REJECTED | EventStatus.ERROR | EventStatus.DEAD:
            setattr(tally, receipt.status.value, getattr(tally, receipt.status.value) + 1)
        case _:
            pass  # accepted, duplicate, ignored and the rest are not outcomes of applying


def _store_unjudged(deps: Deps, result: LinkResult, body: bytes, passed: bool | None) -> bool:
    """A result the bridge cannot judge: awaiting grading if it is, else needs_review with an alert.

    Either it has no `passed` and no pass mark, or the listing does not say
    which quiz it was taken through (its link's `link_url_id`).
    """
    member_id = course_id = None
    try:
        identity = deps.codec.decode(result.cm_user_id or "")
        member_id, course_id = identity.member_id, identity.course_id
    except InvalidCmUserId:
        pass  # staff see no member in the alert; reviewing it rejects it like any bad token
    quiz = result.test.get("test_name")
    test_name = str(quiz)[:255] if quiz else None
    if result.requires_grading:
        _, created = deps.store.reconcile.store_polled(
            result_key=result_key(result),
            status=EventStatus.AWAITING_GRADING,
            test_name=test_name,
            payload=body.decode("utf-8"),
            member_id=member_id,
            course_id=course_id,
        )
        return created
    if passed is not None:
        why = "without the quiz it was taken through (its link's link_url_id is not in the listing)"
    elif result.percentage is None:
        why = "without `passed` and without a percentage"
    else:
        why = "without `passed` and without a pass mark"
    _, created = deps.store.reconcile.store_polled(
        result_key=result_key(result),
        status=EventStatus.NEEDS_REVIEW,
        test_name=test_name,
        payload=body.decode("utf-8"),
        member_id=member_id,
        course_id=course_id,
        alerts=lambda event_id: mails.needs_review(
            deps,
            event_id,
            result.result_id,
            test_name,
            why,
            member_id=member_id,
            course_id=course_id,
            quiz_unknown=passed is not None,
        ),
    )
    if created:
        log.warning("result %s found by reconciliation needs review: %s", result.result_id, why)
    return created


def review(deps: Deps, event_id: int, *, passed: bool) -> Receipt:
    """Staff judged a needs_review result: their verdict goes into its payload, and it is applied like any result."""
    event = deps.store.inbox.get(event_id)
    if event is None:
        return Receipt(status=ReceiptStatus.UNKNOWN, event_id=event_id, detail="no such event")
    if event.status != EventStatus.NEEDS_REVIEW:
        detail = f"event is {event.status}; only needs_review events are reviewed"
        return Receipt(status=EventStatus(event.status), event_id=event_id, detail=detail)
    payload = json.loads(event.payload)
    payload["result"]["passed"] = passed
    if not deps.store.reconcile.review_event(event_id, json.dumps(payload, ensure_ascii=False), passed):
        return Receipt(status=ReceiptStatus.DUPLICATE, event_id=event_id, detail="reviewed or being processed right now")
    log.info("event %s reviewed by staff as %s", event_id, "passed" if passed else "failed")
    return process(deps, event_id)


def webhook_gap(deps: Deps) -> WebhookGap:
    """Results first found by polling: in the last 24 h, in total, and when the last one was found."""
    recent, total, last = deps.store.reconcile.webhook_gap(deps.now() - GAP_WINDOW)
    return WebhookGap(last_24h=recent, total=total, last_found_at=last)


def status(deps: Deps) -> ReconcileStatus:
    """Reconciliation as staff see it: on or off, the last run, the watermark, the request budget and the gap."""
    state = deps.store.reconcile.state()
    last_run = None
    if state is not None and state.last_started_at is not None:
        finished = state.last_finished_at if state.last_finished_at and state.last_finished_at >= state.last_started_at else None
        last_run = ReconcileRun(
            started_at=state.last_started_at,
            finished_at=finished,
            complete=finished is not None and state.last_stopped is None,
            stopped=state.last_stopped if finished else None,
        )
    return ReconcileStatus(
        enabled=deps.settings.reconciliation_configured,
        last_run=last_run,
        newest_result_seen=state.newest_finished if state is not None else None,
        requests_last_hour=deps.store.reconcile.api_requests_last_hour(),
        requests_per_hour=REQUESTS_PER_HOUR,
        webhook_gap=webhook_gap(deps),
    )
