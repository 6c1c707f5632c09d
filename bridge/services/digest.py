"""The weekly staff digest (contract section 12): what needs staff's eyes, in one mail.

To `FABLAB_SUPPORT_EMAIL`, in Czech and English: trainings expiring in the
next 30 days, members out of attempts, dead and rejected results, dead mail,
and the webhook gap when reconciliation measures one. Queued once per ISO week
(outbox key ``digest:{year}-W{week}``), so a job that runs twice, or staff
running `flask digest` by hand, never mails it twice in a week.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from enum import StrEnum
from zoneinfo import ZoneInfo

from bridge.adapters.fabman import Course, Member
from bridge.adapters.store import InboxEvent, OutboxMessage
from bridge.answers import answer, described, to_json
from bridge.domain import attempts, courses
from bridge.domain.expiry import reminder_records
from bridge.services import mails
from bridge.services.deps import Deps
from bridge.services.reconcile import WebhookGap

log = logging.getLogger(__name__)

EXPIRING_DAYS = 30
LOOKBACK = dt.timedelta(days=7)
"""Rejected results and dead mail of the last week are listed; dead results wait for a replay, whatever their age."""
LISTED = 50
"""Rows per store section (the newest first)."""

MeasureGap = Callable[[], WebhookGap]
LISTS = ("expiring", "out_of_attempts", "dead_results", "rejected_results", "dead_mail")
"""The digest's lists of rows, in the mail's order."""


class DigestStatus(StrEnum):
    """What became of the week's digest."""

    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    """Queued earlier this ISO week: not mailed twice."""
    NO_RECIPIENT = "no_recipient"
    """FABLAB_SUPPORT_EMAIL is not set."""
    DRY_RUN = "dry_run"


@answer
class ExpiringRow:
    """A training that ends within 30 days and was not renewed."""

    member_id: int
    member: str
    course_id: int
    course: str
    until_date: dt.date
    online: bool


@answer
class OutOfAttemptsRow:
    """A course a member has no attempts left for (staff reset them)."""

    member_id: int
    member: str
    course_id: int
    course: str
    attempts: int
    max_attempts: int


@answer
class EventRow:
    """A dead or rejected result; times as staff read them (`YYYY-MM-DD HH:MM` in TIMEZONE)."""

    id: int
    status: str
    outcome: str | None
    member_id: int | None
    course_id: int | None
    quiz: str | None
    received_at: str | None
    last_error: str | None


@answer
class MessageRow:
    """A mail or alert given up on."""

    id: int
    channel: str
    member_id: int | None
    event_id: int | None
    subject: str | None
    created_at: str | None
    last_error: str | None


@answer
class Digest:
    """The week's staff digest: what became of it, its text, and each section's rows."""

    status: DigestStatus
    week: str = described(description="The ISO week, as 2026-W49.")
    recipient: str | None
    subject: str
    text: str
    counts: dict[str, int] = described(description="Rows per section.")
    expiring: list[ExpiringRow]
    out_of_attempts: list[OutOfAttemptsRow]
    dead_results: list[EventRow]
    rejected_results: list[EventRow]
    dead_mail: list[MessageRow]
    webhook_gap: WebhookGap | None = described(description="Null when reconciliation is off (the gap is not measured).")
    webhook_gap_measured: bool


def week_of(day: dt.date) -> str:
    """The ISO week a day falls in, as `2026-W49`."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def digest(deps: Deps, *, dry_run: bool = False, webhook_gap: MeasureGap | None = None) -> Digest:
    """Compose the week's digest and, unless `dry_run`, queue and send it once per ISO week."""
    today, now, tz = deps.today(), deps.now(), deps.settings.tz
    week = week_of(today)
    catalogue = deps.fabman.courses()
    expiring: list[ExpiringRow] = []
    exhausted: list[OutOfAttemptsRow] = []
    for page in deps.fabman.iter_member_pages(trainings=True, privileges=False):
        for member in page:
            expiring += _expiring(member, catalogue, today)
            exhausted += _out_of_attempts(member, catalogue, deps.settings.max_course_attempts)
    needing = deps.store.rules.events_needing_staff(since=now - LOOKBACK, limit=LISTED)
    dead_mail = deps.store.rules.dead_messages(since=now - LOOKBACK, limit=LISTED)
    draft = Digest(
        status=DigestStatus.DRY_RUN,
        week=week,
        recipient=deps.settings.fablab_support_email,
        subject="",
        text="",
        counts={},
        expiring=sorted(expiring, key=lambda row: (row.until_date, row.member.casefold())),
        out_of_attempts=sorted(exhausted, key=lambda row: (row.member.casefold(), row.course_id)),
        dead_results=[_event_row(event, tz) for event in needing["dead"]],
        rejected_results=[_event_row(event, tz) for event in needing["rejected"]],
        dead_mail=[_message_row(message, tz) for message in dead_mail],
        webhook_gap=webhook_gap() if webhook_gap is not None else None,
        webhook_gap_measured=webhook_gap is not None,
    )
    sections = {name: getattr(draft, name) for name in (*LISTS, "webhook_gap", "webhook_gap_measured")}
    key = f"digest:{week}"
    subject, text, messages = mails.digest(deps, key, week=week, today=today, sections=to_json(sections))

    def answered(status: DigestStatus) -> Digest:
        counts = {name: len(getattr(draft, name)) for name in LISTS}
        return dataclasses.replace(draft, status=status, subject=subject, text=text, counts=counts)

    if dry_run:
        return answered(DigestStatus.DRY_RUN)
    if not messages:
        log.warning("staff digest %s not sent: FABLAB_SUPPORT_EMAIL is not set", week)
        return answered(DigestStatus.NO_RECIPIENT)
    queued = deps.store.outbox.queue(messages)
    deps.sender.wake()
    log.info("staff digest %s %s", week, "queued" if queued else "was already queued this week")
    return answered(DigestStatus.QUEUED if queued else DigestStatus.ALREADY_QUEUED)


def _expiring(member: Member, catalogue: dict[int, Course], today: dt.date) -> list[ExpiringRow]:
    """The member's trainings that end within 30 days and were not renewed."""
    rows = []
    for record in reminder_records(member.trainings or (), today, EXPIRING_DAYS):
        course = record.course or catalogue.get(record.course_id)
        assert record.until_date is not None  # within the window
        rows.append(
            ExpiringRow(
                member_id=member.id,
                member=member.display_name or f"#{member.id}",
                course_id=record.course_id,
                course=course.title if course else f"#{record.course_id}",
                until_date=record.until_date,
                online=bool(course and courses.is_online(course)),
            )
        )
    return rows


def _out_of_attempts(member: Member, catalogue: dict[int, Course], default_attempts: int) -> list[OutOfAttemptsRow]:
    """Courses the member has no attempts left for (staff reset them)."""
    rows = []
    seen: set[int] = set()
    for entry in attempts.failed_entries(member.metadata):
        try:
            course_id = int(entry.get("id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        course = catalogue.get(course_id)
        if course is None or course_id in seen:
            continue
        seen.add(course_id)
        allowed = courses.max_attempts(course, default_attempts)
        used = attempts.attempts_used(member.metadata, course_id)
        if used >= allowed:
            rows.append(
                OutOfAttemptsRow(
                    member_id=member.id,
                    member=member.display_name or f"#{member.id}",
                    course_id=course_id,
                    course=course.title,
                    attempts=used,
                    max_attempts=allowed,
                )
            )
    return rows


def _local(moment: dt.datetime | None, tz: ZoneInfo) -> str | None:
    """A stored moment as staff read it: `YYYY-MM-DD HH:MM` in TIMEZONE."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else None


def _event_row(event: InboxEvent, tz: ZoneInfo) -> EventRow:
    return EventRow(
        id=event.id,
        status=event.status,
        outcome=event.outcome,
        member_id=event.member_id,
        course_id=event.course_id,
        quiz=event.test_name,
        received_at=_local(event.received_at, tz),
        last_error=event.last_error,
    )


def _message_row(message: OutboxMessage, tz: ZoneInfo) -> MessageRow:
    return MessageRow(
        id=message.id,
        channel=message.channel,
        member_id=message.member_id,
        event_id=message.event_id,
        subject=message.subject,
        created_at=_local(message.created_at, tz),
        last_error=message.last_error,
    )
