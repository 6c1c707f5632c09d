"""Recording what became of an event, with the mail and alerts that go with it, in one store transition."""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import assert_never

from bridge.adapters.fabman import Course, Member
from bridge.adapters.store import Grant, InboxEvent
from bridge.domain.messages import OutgoingMessage
from bridge.domain.results import QuizResult
from bridge.domain.statuses import EventStatus, HoldReason, Outcome
from bridge.services import mails
from bridge.services.deps import Deps
from bridge.services.results.prerequisites import missing_courses
from bridge.services.results.receipts import Applied, Held, NotCounted, Receipt

log = logging.getLogger(__name__)

_JITTER = random.Random()  # noqa: S311 - jitter only
"""Its own generator: background threads never touch the global `random` state others seed and watch."""

MAX_BACKOFF_SECONDS = 3600


def record_applied(deps: Deps, event: InboxEvent, result: QuizResult, applied: Applied) -> None:
    """queued -> applied: the ledger row (for a grant) and the member's mail with it (one kind per outcome)."""
    member, course = applied.member, applied.course
    messages: list[OutgoingMessage]
    match applied.outcome:
        case Outcome.GRANTED:
            messages = mails.granted(deps, event.id, member, course, result, applied.until)
        case Outcome.FAILED:
            messages = mails.failed(deps, event.id, member, course, result, applied.attempts_left, opens_at=applied.opens_at)
        case Outcome.NOT_COUNTED:
            messages = mails.too_early(deps, event.id, member, course, result, applied.opens_at, passed=False)
        case Outcome.REQUIREMENT_NOT_COUNTED:
            missing = missing_courses(deps, applied)
            messages = mails.missing_requirement(deps, event.id, member, course, missing, passed=False)
        case Outcome.OUT_OF_ATTEMPTS | Outcome.BLOCKED_PASS:
            passed = applied.outcome == Outcome.BLOCKED_PASS
            messages = mails.out_of_attempts(deps, event.id, member, course, applied.allowed, passed=passed)
        case unknown:
            assert_never(unknown)
    grant = _grant(result, applied) if applied.record is not None else None
    deps.store.inbox.mark_applied(event.id, applied.outcome, grant=grant, messages=messages)


def hold(deps: Deps, event: InboxEvent, result: QuizResult, held: Held) -> Receipt:
    """queued -> rejected: a pass that grants nothing yet, with the member's mail and the staff alert of its reason."""
    match held.reason:
        case HoldReason.TOO_EARLY:
            _hold_too_early(deps, event, result, held)
            detail = "started during the waiting period; held"
        case HoldReason.MISSING_REQUIREMENT:
            _hold_for_requirement(deps, event, held)
            detail = "a required course is missing; held"
        case unknown:
            assert_never(unknown)
    return Receipt(status=EventStatus.REJECTED, event_id=event.id, outcome=held.reason, detail=detail)


def _hold_too_early(deps: Deps, event: InboxEvent, result: QuizResult, held: Held) -> None:
    """queued -> rejected (`too_early`): a pass started inside the waiting period grants nothing.

    The member hears when to retake the quiz; staff get an alert and may
    replay the event, which applies the pass despite the wait.
    """
    member, course = held.member, held.course
    reason = "the quiz was started during the waiting period after a failed attempt"
    messages = mails.too_early(deps, event.id, member, course, result, held.opens_at, passed=True)
    messages += mails.held_pass_alert(deps, event.id, member, course, result, held.opens_at)
    deps.store.inbox.close(event.id, EventStatus.REJECTED, reason, outcome=HoldReason.TOO_EARLY, messages=messages)
    log.info("event %s held: %s", event.id, reason)


def not_counted(deps: Deps, event: InboxEvent, result: QuizResult, why: NotCounted) -> None:
    """queued -> rejected under rule 4.10: the reason is the outcome; one mail to the member, one alert to staff.

    Nothing was written to Fabman and no attempt was counted. Both messages
    are keyed by the event, so a replay that meets the same reason adds none.
    """
    refusal = why.refusal
    messages = mails.refused(deps, event.id, why.member, why.course, result, refusal)
    messages += mails.refused_alert(deps, event.id, why.member, why.course, result, refusal)
    deps.store.inbox.close(event.id, EventStatus.REJECTED, refusal.detail, outcome=refusal.reason, messages=messages)
    log.warning("event %s rejected (%s): %s", event.id, refusal.reason, refusal.detail)


def _hold_for_requirement(deps: Deps, event: InboxEvent, held: Held) -> None:
    """queued -> rejected (`missing_requirement`): a pass without a required course grants nothing (section 15).

    The member hears what to take first; staff get an alert and may replay the
    event once the member holds the required course.
    """
    missing = missing_courses(deps, held)
    reason = "required course(s) not held when the quiz finished: " + ", ".join(map(str, held.missing))
    messages = mails.missing_requirement(deps, event.id, held.member, held.course, missing, passed=True)
    messages += mails.held_for_requirement_alert(deps, event.id, held.member, held.course, missing)
    deps.store.inbox.close(event.id, EventStatus.REJECTED, reason, outcome=HoldReason.MISSING_REQUIREMENT, messages=messages)
    log.info("event %s held: %s", event.id, reason)


def _grant(result: QuizResult, applied: Applied) -> Grant:
    record = applied.record
    assert record is not None
    return Grant(
        result_id=result.result_id,
        member_id=applied.member.id,
        course_id=applied.course.id,
        course_title=applied.course.title,
        fabman_record_id=record.id,
        quiz_name=result.test_name,
        quiz_id=result.test_id,
        link_id=result.link_id,
        percentage=result.percentage,
        points_scored=result.points_scored,
        points_available=result.points_available,
        percentage_passmark=result.percentage_passmark,
        time_started=result.time_started,
        time_finished=result.time_finished,
        training_date=record.date,
        until_date=record.until_date,
        evidence=result.evidence(),
    )


def reject(deps: Deps, event: InboxEvent, reason: str, *, member_id: int | None, course_id: int | None) -> None:
    """queued -> rejected: nothing was written to Fabman; staff hear why (and whose result it was, when known)."""
    alert = mails.event_alert(
        deps,
        event.id,
        "rejected",
        "ClassMarker result rejected",
        f"Event {event.id} was not applied: {reason}. Nothing was written to Fabman.",
        member_id=member_id,
        course_id=course_id,
    )
    deps.store.inbox.close(event.id, EventStatus.REJECTED, reason, outcome=EventStatus.REJECTED, messages=alert)
    log.warning("event %s rejected: %s", event.id, reason)


def defer(deps: Deps, event: InboxEvent, error: Exception) -> Receipt:
    """Stay queued with backoff; after the maximum age the event is dead and staff are told."""
    settings = deps.settings
    if deps.now() - event.retrying_since > dt.timedelta(hours=settings.retry_max_age_hours):
        current = deps.store.inbox.get(event.id) or event
        alert = mails.event_alert(
            deps,
            event.id,
            "dead",
            "ClassMarker result could not be applied",
            f"Event {event.id} failed for {settings.retry_max_age_hours} h ({error}). "
            f"Replay it once Fabman works: `flask replay-event {event.id}`.",
            member_id=current.member_id,
            course_id=current.course_id,
        )
        deps.store.inbox.close(event.id, EventStatus.DEAD, str(error), messages=alert)
        return Receipt(status=EventStatus.DEAD, event_id=event.id, detail="gave up; staff were alerted")
    delay = settings.retry_base_seconds * 2 ** min(event.attempts - 1, 10) * (0.5 + _JITTER.random())
    deps.store.inbox.defer(event.id, str(error), deps.now() + dt.timedelta(seconds=min(delay, MAX_BACKOFF_SECONDS)))
    log.warning("event %s queued for retry after Fabman failure: %s", event.id, error)
    return Receipt(status=EventStatus.QUEUED, event_id=event.id, detail="stored; Fabman is unavailable, it will be applied later")


def fail(deps: Deps, event: InboxEvent, result: QuizResult, error: Exception) -> None:
    """Contract rule 9: queued -> error; the member hears something went wrong, staff get the event id."""
    current = deps.store.inbox.get(event.id) or event
    member: Member | None = None
    course: Course | None = None
    try:
        if current.member_id is not None:
            member = deps.fabman.get_member(current.member_id, trainings=False, privileges=False)
        if current.course_id is not None:
            course = deps.fabman.course(current.course_id)
    except Exception:  # noqa: BLE001 - best effort: the alert below still goes out
        log.warning("could not load member/course for the error mail of event %s", event.id)
    messages = mails.something_went_wrong(deps, event.id, member, course)
    messages += mails.event_alert(
        deps,
        event.id,
        f"error:{event.attempts}",
        "Error while applying a ClassMarker result",
        f"Event {event.id} (result {result.result_id}) failed: {type(error).__name__}: {error}. "
        f"Inspect it with `flask show-event {event.id}` and replay it with `flask replay-event {event.id}`.",
        member_id=current.member_id,
        course_id=current.course_id,
    )
    deps.store.inbox.close(event.id, EventStatus.ERROR, f"{type(error).__name__}: {error}", messages=messages)
