"""ClassMarker results: stored once, applied to Fabman once, told to the member.

:func:`receive` records a delivery durably and then tries to apply it within
the webhook's budget; :func:`process` applies one stored event (from the
webhook, the retry job or a staff replay). Applying is safe to repeat: before
each write it checks whether Fabman already shows the effect of this result
(a record whose notes name the result, a result id remembered in the member's
metadata), so a crash between Fabman's answer and the store's commit never
doubles a training or an attempt.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bridge.adapters.codec import CmUserIdCodec, InvalidCmUserId, redact
from bridge.adapters.fabman import (
    Course,
    FabmanClient,
    FabmanNotFound,
    FabmanTimeout,
    FabmanUnavailable,
    Member,
    TrainingRecord,
)
from bridge.adapters.notifier import Notifier, format_dates
from bridge.adapters.store import Store, utcnow
from bridge.adapters.store.models import InboxEvent, LedgerEntry
from bridge.config import Settings
from bridge.domain import attempts, courses
from bridge.domain.calendar import today_in, until_date
from bridge.domain.links import courses_web_link, quiz_url
from bridge.domain.results import QuizResult, notes_name_result, parse_delivery, training_notes
from bridge.services.members import MetadataChange, update_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResultDeps:
    """What applying results needs.

    `send_now` sends the mail an event queued right after its commit (the
    webhook, a replay); the retry job turns it off and sends everything due
    in one pass at the end, so its summary counts every mail it sent.
    `deadline` (a `time.monotonic()` value) stops a webhook from starting
    another Fabman write once its budget is spent: the event stays queued.
    """

    settings: Settings
    fabman: FabmanClient
    codec: CmUserIdCodec
    store: Store
    notifier: Notifier
    send_now: bool = True
    deadline: float | None = None


@dataclass(frozen=True)
class Receipt:
    """The webhook's answer: what happened to the delivery."""

    status: str
    event_id: int | None = None
    outcome: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The response body, without empty fields."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class Rejected(Exception):
    """The result cannot be applied as it stands (bad token, unknown member or course)."""


@dataclass(frozen=True)
class Applied:
    """What applying a result did, for the store and the member's mail."""

    outcome: str
    member: Member
    course: Course
    attempts_left: int
    allowed: int
    record: TrainingRecord | None = None
    until: dt.date | None = None


# -- receiving -----------------------------------------------------------------


def receive(deps: ResultDeps, body: bytes, payload: Any) -> Receipt:
    """Store a verified delivery and try to apply it now; the receipt is the webhook's answer."""
    deps = dataclasses.replace(deps, deadline=time.monotonic() + deps.settings.webhook_budget_seconds)
    delivery = parse_delivery(payload)
    if delivery.kind == "verify":
        return Receipt("ignored", detail="ClassMarker verification ping acknowledged")
    if delivery.kind == "group":
        log.info("result without cm_user_id (group result or a quiz taken without a personal link) ignored")
        return Receipt("ignored", detail="results without a cm_user_id (group results) are not used by the bridge")
    result = delivery.result
    assert result is not None
    grading = result.requires_grading
    event, created = deps.store.record_event(
        {
            "result_key": f"{result.result_id}:ungraded" if grading else result.result_id,
            "status": "awaiting_grading" if grading else "queued",
            "passed": result.passed,
            "test_name": result.test_name,
            "payload": body.decode("utf-8", "replace"),
            "attempts": 0,
        }
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
        return Receipt("queued", event.id, detail="stored; being applied by another worker")
    return receipt


# -- processing ----------------------------------------------------------------


def process(deps: ResultDeps, event_id: int, *, statuses: tuple[str, ...] = ("queued",)) -> Receipt:
    """Apply one stored event if no other worker holds it; record the outcome and queue mail."""
    event = deps.store.claim_event(event_id, deps.settings.lease_seconds, statuses=statuses)
    if event is None:
        current = deps.store.get_event(event_id)
        return Receipt("duplicate" if current else "unknown", event_id, detail="being processed or already done")
    result = parse_delivery(json.loads(event.payload)).result
    assert result is not None
    try:
        member_id, course_id = _identity(deps.codec, result)
        deps.store.update_event(event.id, member_id=member_id, course_id=course_id)
        applied = apply_result(deps, result, member_id, course_id)
    except Rejected as why:
        _reject(deps, event, str(why))
        return Receipt("rejected", event.id, detail=str(why))
    except FabmanUnavailable as error:
        return _defer(deps, event, error)
    except Exception as error:  # noqa: BLE001 - contract rule 9: tell member and staff, keep the event
        log.exception("event %s failed unexpectedly", event.id)
        _fail(deps, event, result, error)
        return Receipt("error", event.id, detail="unexpected error; staff were alerted")
    _record_applied(deps, event, result, applied)
    return Receipt("applied", event.id, outcome=applied.outcome)


def _identity(codec: CmUserIdCodec, result: QuizResult) -> tuple[int, int]:
    try:
        identity = codec.decode(result.cm_user_id)
    except InvalidCmUserId as error:
        raise Rejected(f"cm_user_id rejected: {error}") from None
    return identity.member_id, identity.course_id


def apply_result(deps: ResultDeps, result: QuizResult, member_id: int, course_id: int) -> Applied:
    """Change Fabman for one result (idempotent); raises Rejected or FabmanError."""
    try:
        member = deps.fabman.get_member(member_id, trainings=True, privileges=False)
    except FabmanNotFound:
        raise Rejected(f"member {member_id} does not exist in Fabman") from None
    try:
        course = deps.fabman.course(course_id)
    except FabmanNotFound:
        raise Rejected(f"training course {course_id} does not exist in Fabman") from None
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    if result.passed:
        return _apply_pass(deps, result, member, course, allowed)
    return _apply_fail(deps, result, member, course, allowed)


def _apply_pass(deps: ResultDeps, result: QuizResult, member: Member, course: Course, allowed: int) -> Applied:
    records = [r for r in member.trainings or () if r.course_id == course.id]
    mine = next((r for r in records if notes_name_result(r.notes, result.result_id)), None)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    if mine is None and left <= 0:
        return Applied("blocked_pass", member, course, 0, allowed)
    today = today_in(deps.settings.tz)
    if mine is None:
        _within_budget(deps)
        mine = _create_once(deps, member.id, course, result, today)
    for older in records:
        if older.id != mine.id:
            _within_budget(deps)
            deps.fabman.delete_training(member.id, older.id)
    _update_metadata(deps, member, lambda metadata: attempts.cleared(metadata, course.id))
    return Applied("granted", member, course, allowed, allowed, record=mine, until=mine.until_date)


def _create_once(deps: ResultDeps, member_id: int, course: Course, result: QuizResult, today: dt.date) -> TrainingRecord:
    """Create the record; if the answer is lost, look for it before giving up."""
    until = until_date(today, course.default_duration, course.default_duration_unit)
    try:
        return deps.fabman.create_training(member_id, course.id, date=today, until_date=until, notes=training_notes(result))
    except FabmanUnavailable:
        existing = [r for r in deps.fabman.list_trainings(member_id) if notes_name_result(r.notes, result.result_id)]
        if existing:
            return existing[0]
        raise


def _apply_fail(deps: ResultDeps, result: QuizResult, member: Member, course: Course, allowed: int) -> Applied:
    def count(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if attempts.was_counted(metadata, result.result_id):
            return None
        return attempts.with_failed_attempt(metadata, course.id, course.title, result.result_id)

    member = _update_metadata(deps, member, count)
    left = attempts.attempts_left(member.metadata, course.id, allowed)
    return Applied("failed" if left > 0 else "out_of_attempts", member, course, left, allowed)


def _within_budget(deps: ResultDeps) -> None:
    """Before a write: give up for now (the event stays queued) once the webhook's budget is spent."""
    if deps.deadline is not None and time.monotonic() > deps.deadline:
        raise FabmanTimeout("Fabman is slow: the webhook's time budget is spent; the retry job continues")


def _update_metadata(deps: ResultDeps, member: Member, change: MetadataChange) -> Member:
    """A metadata write that respects lockVersion and the webhook's budget."""
    return update_metadata(deps.fabman, member, change, before_write=lambda: _within_budget(deps))


# -- recording outcomes ----------------------------------------------------------


def _mail_context(deps: ResultDeps, member: Member, course: Course | None) -> dict[str, Any]:
    cs_name, en_name = courses.display_names(course) if course else ("", "")
    return {"first_name": member.first_name, "course_cs": cs_name, "course_en": en_name}


def _record_applied(deps: ResultDeps, event: InboxEvent, result: QuizResult, applied: Applied) -> None:
    member, course = applied.member, applied.course
    context = _mail_context(deps, member, course)
    settings = deps.settings
    personal = courses_web_link(settings.courses_web_url, settings.courses_web_private_key, member.id)
    mail_kind = {"granted": "granted", "failed": "failed"}.get(applied.outcome, "out_of_attempts")
    if applied.outcome == "granted":
        context.update(format_dates(applied.until), percentage=result.percentage, quiz_name=result.test_name)
    elif applied.outcome == "failed":
        cm_url = courses.setting(course, "cm_url")
        link = quiz_url(cm_url, deps.codec.encode(member.id, course.id)) if courses.is_online(course) else None
        context.update(
            attempts_left=applied.attempts_left, percentage=result.percentage, passmark=result.percentage_passmark, quiz_url=link
        )
    else:
        context.update(
            max_attempts=applied.allowed, courses_web_link=personal, passed_without_attempts=applied.outcome == "blocked_pass"
        )
    with deps.store.session() as session:
        if applied.record is not None:
            deps.store.insert_ignore(session, LedgerEntry, _ledger_row(result, applied))
        deps.notifier.queue_member_mail(
            session,
            kind=mail_kind,
            recipient=member.email,
            dedupe_key=f"event:{event.id}:{mail_kind}",
            context=context,
            member_id=member.id,
            event_id=event.id,
        )
        if applied.outcome == "blocked_pass":
            deps.notifier.queue_staff_alert(
                session,
                dedupe_key=f"event:{event.id}:blocked",
                title="Passed quiz without attempts left",
                message=f"Member {member.id} passed course {course.id} ({course.title}) but has no attempts left; "
                "no training was added. Reset the attempts and replay the event if the pass should count.",
                event_id=event.id,
                member_id=member.id,
                course_id=course.id,
            )
        session.execute(
            InboxEvent.__table__.update()
            .where(InboxEvent.id == event.id)
            .values(
                status="applied",
                outcome=applied.outcome,
                lease_until=None,
                last_error=None,
                next_attempt_at=None,
                updated_at=utcnow(),
            )
        )
    _send_now(deps)


def _send_now(deps: ResultDeps) -> None:
    if deps.send_now:
        deps.notifier.flush(limit=10)


def _ledger_row(result: QuizResult, applied: Applied) -> dict[str, Any]:
    record = applied.record
    assert record is not None
    return {
        "result_id": result.result_id,
        "member_id": applied.member.id,
        "course_id": applied.course.id,
        "course_title": applied.course.title,
        "fabman_record_id": record.id,
        "quiz_name": result.test_name,
        "quiz_id": result.test_id,
        "link_id": result.link_id,
        "percentage": result.percentage,
        "points_scored": result.points_scored,
        "points_available": result.points_available,
        "percentage_passmark": result.percentage_passmark,
        "time_started": result.time_started,
        "time_finished": result.time_finished,
        "training_date": record.date.isoformat() if record.date else None,
        "until_date": record.until_date.isoformat() if record.until_date else None,
        "evidence": result.evidence(),
        "granted_at": utcnow(),
    }


def _close_with_alert(
    deps: ResultDeps,
    event: InboxEvent,
    status: str,
    error: str,
    *,
    title: str,
    message: str,
    alert_key: str,
    also: Callable[[Session], object] | None = None,
    **values: Any,
) -> None:
    """End an event that was not applied: staff alert (and `also`) with the status in one transaction."""
    current = deps.store.get_event(event.id) or event  # the member and course found since the claim
    with deps.store.session() as session:
        if also is not None:
            also(session)
        deps.notifier.queue_staff_alert(
            session,
            dedupe_key=f"event:{event.id}:{alert_key}",
            title=title,
            message=message,
            event_id=event.id,
            member_id=current.member_id,
            course_id=current.course_id,
        )
        session.execute(
            InboxEvent.__table__.update()
            .where(InboxEvent.id == event.id)
            .values(status=status, last_error=error[:500], lease_until=None, updated_at=utcnow(), **values)
        )
    _send_now(deps)


def _reject(deps: ResultDeps, event: InboxEvent, reason: str) -> None:
    _close_with_alert(
        deps,
        event,
        "rejected",
        reason,
        outcome="rejected",
        alert_key="rejected",
        title="ClassMarker result rejected",
        message=f"Event {event.id} was not applied: {reason}. Nothing was written to Fabman.",
    )
    log.warning("event %s rejected: %s", event.id, reason)


def _defer(deps: ResultDeps, event: InboxEvent, error: Exception) -> Receipt:
    """Keep the event queued with backoff; after the maximum age it is dead and staff are told."""
    age = utcnow() - event.retrying_since
    settings = deps.settings
    if age > dt.timedelta(hours=settings.retry_max_age_hours):
        _close_with_alert(
            deps,
            event,
            "dead",
            str(error),
            alert_key="dead",
            title="ClassMarker result could not be applied",
            message=f"Event {event.id} failed for {settings.retry_max_age_hours} h ({error}). "
            f"Replay it once Fabman works: `flask replay-event {event.id}`.",
        )
        return Receipt("dead", event.id, detail="gave up; staff were alerted")
    delay = settings.retry_base_seconds * 2 ** min(event.attempts - 1, 10) * (0.5 + random.random())  # noqa: S311
    deps.store.finish_event(
        event.id,
        status="queued",
        last_error=str(error)[:500],
        next_attempt_at=utcnow() + dt.timedelta(seconds=min(delay, 3600)),
    )
    log.warning("event %s queued for retry after Fabman failure: %s", event.id, error)
    return Receipt("queued", event.id, detail="stored; Fabman is unavailable, it will be applied later")


def _fail(deps: ResultDeps, event: InboxEvent, result: QuizResult, error: Exception) -> None:
    """Contract rule 9: the member hears something went wrong, staff get the event id."""
    current = deps.store.get_event(event.id) or event
    member: Member | None = None
    course: Course | None = None
    try:
        if current.member_id is not None:
            member = deps.fabman.get_member(current.member_id, trainings=False, privileges=False)
        if current.course_id is not None:
            course = deps.fabman.course(current.course_id)
    except Exception:  # noqa: BLE001 - best effort: the alert below still goes out
        log.warning("could not load member/course for the error mail of event %s", event.id)

    def tell_member(session: Session) -> object:
        if member is None:
            return None
        return deps.notifier.queue_member_mail(
            session,
            kind="error",
            recipient=member.email,
            dedupe_key=f"event:{event.id}:error",
            context={**_mail_context(deps, member, course), "event_id": event.id},
            member_id=member.id,
            event_id=event.id,
        )

    _close_with_alert(
        deps,
        event,
        "error",
        f"{type(error).__name__}: {error}",
        alert_key=f"error:{event.attempts}",
        also=tell_member,
        title="Error while applying a ClassMarker result",
        message=f"Event {event.id} (result {result.result_id}) failed: {type(error).__name__}: {error}. "
        f"Inspect it with `flask show-event {event.id}` and replay it with `flask replay-event {event.id}`.",
    )


# -- the retry job and replays -----------------------------------------------------


def retry_due(deps: ResultDeps, *, limit: int = 200) -> dict[str, int]:
    """Process queued events that are due, then send due mail; a summary of counts."""
    summary = {"processed": 0, "applied": 0, "queued": 0, "rejected": 0, "error": 0, "dead": 0}
    batch = dataclasses.replace(deps, send_now=False)
    for event_id in deps.store.due_event_ids(limit):
        receipt = process(batch, event_id, statuses=("queued",))
        summary["processed"] += 1
        if receipt.status in summary:
            summary[receipt.status] += 1
    report = deps.notifier.flush(limit=1000)
    summary.update(mails_sent=report.sent, mails_failed=report.failed, mails_dead=report.dead)
    return summary


REPLAYABLE = ("queued", "dead", "error", "rejected")


def replay(deps: ResultDeps, event_id: int) -> Receipt:
    """Staff put a dead, failed or rejected event back and process it now."""
    event = deps.store.get_event(event_id)
    if event is None:
        return Receipt("unknown", event_id, detail="no such event")
    if event.status not in REPLAYABLE:
        return Receipt(event.status, event_id, detail=f"event is {event.status}; only {', '.join(REPLAYABLE)} events replay")
    if not deps.store.requeue_event(event_id, statuses=REPLAYABLE):
        return Receipt("duplicate", event_id, detail="being processed right now; try again in a moment")
    return process(deps, event_id)
