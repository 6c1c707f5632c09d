"""Expired trainings: announced to the member first, removed from Fabman after.

Two ways in, one rule: the member's expiry mail is committed to the outbox
before anything is deleted, under a key per training record
(``expiry:{member}:{record}``) that the sweep and the scheduler's
`/training_expiration` share. So a crash between the mail and the delete, a
scheduler retry, or a second sweep the same day never mails twice, and a rerun
still removes what is left. Reminders ride along in the sweep: one mail a day
per member lists every training that entered the reminder window, and each
record is remembered with its `untilDate`, so it is listed once
(:mod:`bridge.domain.reminders`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from jinja2 import TemplateError

from bridge.adapters.fabman import Course, FabmanClient, FabmanError, Member, TrainingRecord
from bridge.adapters.store.rules import ReminderMail, ReminderMark
from bridge.answers import answer, described
from bridge.domain.expiry import expired_records, expiry_mail_key, is_expired, reminder_mail_key, reminder_records
from bridge.domain.messages import OutgoingMessage
from bridge.domain.reminders import is_remindable, reminder_day_key
from bridge.errors import BridgeError, NotFound
from bridge.services import mails
from bridge.services.deps import Deps
from bridge.services.evidence import removal_fields
from bridge.services.profile import load_course, load_member

log = logging.getLogger(__name__)

DELETE_CONCURRENCY = 4
"""Deletes in flight at once: fast on hundreds of records, gentle on Fabman's per-IP rate limit."""


class TrainingStillActive(BridgeError):
    """The scheduler asked to announce a training that is active in the FabLab's calendar."""

    status, title, slug = 409, "Training still active", "training-still-active"


class ExpiryStatus(StrEnum):
    """What became of one expiry mail the scheduler asked for."""

    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"
    """Queued before (a scheduler retry, or the sweep): not mailed twice."""
    NO_ADDRESS = "no_address"
    """The member has no e-mail address; staff got an alert instead."""


@answer
class ExpiryNotice:
    """The expiry mail of one member's course: queued, already queued, or not possible."""

    status: ExpiryStatus = described(ExpiryStatus.QUEUED)
    member_id: int = described(1)
    training_id: int = described(2, "Training course id.")
    record_id: int = described(3, "The expired Fabman training record announced.")
    until_date: dt.date | None = described(dt.date(2026, 3, 2))


@answer
class SweepError:
    """One record the sweep could not handle (the next run retries it)."""

    member_id: int = described(4)
    record_id: int | None = described(17)
    error: str = described("Fabman error (status 500)")


@answer
class ExpirySummary:
    """What one expiry sweep did (in a dry run: would do)."""

    dry_run: bool = described(False, "True: nothing changed; the counters say what a run would do.")
    today: dt.date = described(dt.date(2026, 3, 2), "Today in TIMEZONE.")
    reminder_days: int = described(14)
    members_scanned: int = described(25)
    expired_found: int = described(9)
    removed: int = described(9)
    mails_queued: int = described(9, "Expiry mails newly queued.")
    reminders_queued: int = described(4, "Reminder mails newly queued (one a day per member).")
    no_address: int = described(0, "Expired records of members without an e-mail address.")
    errors: tuple[SweepError, ...] = described(())


def _nothing_yet(dry_run: bool, today: dt.date, reminder_days: int) -> ExpirySummary:
    """A sweep's summary before its first page."""
    return ExpirySummary(
        dry_run=dry_run,
        today=today,
        reminder_days=reminder_days,
        members_scanned=0,
        expired_found=0,
        removed=0,
        mails_queued=0,
        reminders_queued=0,
        no_address=0,
        errors=(),
    )


class _Sweep:
    """The summary of a sweep in progress: each step adds its counts to a new summary."""

    def __init__(self, summary: ExpirySummary) -> None:
        self.summary = summary

    @property
    def today(self) -> dt.date:
        return self.summary.today

    @property
    def dry_run(self) -> bool:
        return self.summary.dry_run

    def add(self, **counts: int) -> None:
        """Add to the counters named."""
        self.summary = dataclasses.replace(self.summary, **{name: getattr(self.summary, name) + n for name, n in counts.items()})

    def add_error(self, member_id: int, record_id: int | None, error: Exception | str) -> None:
        """Note a failure of one member's record; the sweep goes on."""
        failed = SweepError(member_id=member_id, record_id=record_id, error=str(error)[:300])
        self.summary = dataclasses.replace(self.summary, errors=(*self.summary.errors, failed))


Progress = Callable[[int, ExpirySummary], None]
"""Called after each page of members with the page's size and the summary so far."""


@dataclass(frozen=True)
class _Notice:
    """One expiry mail the sweep owes a member (then a delete)."""

    kind: str
    member: Member
    record: TrainingRecord
    course: Course | None
    key: str


# -- the scheduler's endpoint ------------------------------------------------------


def announce_expiry(deps: Deps, member_id: int, course_id: int, *, today: dt.date | None = None) -> ExpiryNotice:
    """Queue the expiry mail of the member's expired training of a course; return once it is committed.

    The record announced is the member's latest expired record of the course,
    and its key is the sweep's, so the scheduler's retries and a later sweep
    never mail it again. A course the member holds no record of is a 404; one
    whose records are all still active is a 409 (nothing is queued, so a
    scheduler that deletes only after a 2xx keeps the training).
    """
    today = today or deps.today()
    member = load_member(deps.fabman, member_id, privileges=False)
    course = load_course(deps.fabman, course_id)
    held = [record for record in member.trainings or () if record.course_id == course.id]
    if not held:
        raise NotFound(f"member {member_id} holds no training of course {course_id}")
    expired = [record for record in held if is_expired(record, today)]
    if not expired:
        latest = max(held, key=lambda r: r.until_date or dt.date.max)
        ends = latest.until_date.isoformat() if latest.until_date else "never"
        raise TrainingStillActive(f"member {member_id}'s training of course {course_id} is active (until {ends}); no mail sent")
    record = max(expired, key=lambda r: (r.until_date or dt.date.min, r.id))
    key = expiry_mail_key(member.id, record.id)
    if member.email:
        queued = deps.store.outbox.queue(mails.expiry_notice(deps, "expired", member, course, record, key))
        status = ExpiryStatus.QUEUED if queued else ExpiryStatus.ALREADY_QUEUED
    else:
        deps.store.outbox.queue(mails.unannounced_expiry(deps, key, member, course, record))
        status = ExpiryStatus.NO_ADDRESS
    deps.sender.wake()
    log.info("expiry of record %s (member %s, course %s): %s", record.id, member.id, course.id, status)
    return ExpiryNotice(
        status=status, member_id=member.id, training_id=course.id, record_id=record.id, until_date=record.until_date
    )


# -- the sweep ------------------------------------------------------------------------


def expire_trainings(
    deps: Deps, *, dry_run: bool = False, progress: Progress | None = None, today: dt.date | None = None
) -> ExpirySummary:
    """Walk every member page, announce and remove expired records, send due reminders.

    One list request per page of members (trainings embedded); deletes run a
    few at a time and each waits out Fabman's 429 in the client. A failure on
    one member is listed in `errors` and the sweep goes on. In a dry run the
    counters say what a real run would do, and nothing is queued or deleted.
    """
    sweep = _Sweep(_nothing_yet(dry_run, today or deps.today(), deps.settings.reminder_days))
    catalogue = _Catalogue(deps.fabman)
    try:
        with ThreadPoolExecutor(max_workers=DELETE_CONCURRENCY, thread_name_prefix="expiry-delete") as pool:
            for page in deps.fabman.iter_member_pages(trainings=True, privileges=False):
                _sweep_page(deps, page, sweep, catalogue, pool)
                if progress is not None:
                    progress(len(page), sweep.summary)
    except FabmanError:
        _log_summary(sweep.summary, "stopped: members could not be listed;")
        raise
    if sweep.summary.errors and not dry_run:
        _alert_staff(deps, sweep.summary)
    _log_summary(sweep.summary, "dry run:" if dry_run else "done:")
    return sweep.summary


def _log_summary(summary: ExpirySummary, outcome: str) -> None:
    log.info(
        "expiry sweep %s %d members, %d expired, %d removed, %d mails, %d reminders, %d errors",
        outcome,
        summary.members_scanned,
        summary.expired_found,
        summary.removed,
        summary.mails_queued,
        summary.reminders_queued,
        len(summary.errors),
    )


class _Catalogue:
    """Courses of records Fabman sent without their embedded course, loaded at most once."""

    def __init__(self, fabman: FabmanClient) -> None:
        self.fabman = fabman
        self._courses: dict[int, Course] | None = None

    def course_of(self, record: TrainingRecord) -> Course | None:
        if record.course is not None:
            return record.course
        if self._courses is None:
            try:
                self._courses = self.fabman.courses()
            except FabmanError as error:
                log.warning("training courses could not be listed: %s", error)
                self._courses = {}
        return self._courses.get(record.course_id)


def _notices(member: Member, sweep: _Sweep, catalogue: _Catalogue) -> list[_Notice]:
    """The expiry mails one member is owed today."""
    return [
        _Notice("expired", member, record, catalogue.course_of(record), expiry_mail_key(member.id, record.id))
        for record in expired_records(member.trainings or (), sweep.today)
    ]


def _sweep_page(deps: Deps, page: list[Member], sweep: _Sweep, catalogue: _Catalogue, pool: ThreadPoolExecutor) -> None:
    """Queue the page's mails in one transaction, then delete what was announced."""
    sweep.add(members_scanned=len(page))
    reminded = _remind(deps, page, sweep, catalogue)
    owed = [notice for member in page for notice in _notices(member, sweep, catalogue)]
    sweep.add(expired_found=sum(notice.kind == "expired" for notice in owed))
    if not owed:
        if reminded:
            deps.sender.wake()
        return
    already = deps.store.outbox.queued_keys(notice.key for notice in owed)
    if sweep.dry_run:
        for notice in owed:
            _count_mail(sweep, notice, queued=notice.key not in already and bool(notice.member.email))
        sweep.add(removed=sum(notice.kind == "expired" for notice in owed))
        return
    announced: list[_Notice] = []
    to_queue: list[tuple[_Notice, list[OutgoingMessage]]] = []
    for notice in owed:
        if notice.key not in already:
            try:
                to_queue.append(
                    (notice, mails.expiry_notice(deps, notice.kind, notice.member, notice.course, notice.record, notice.key))
                )
            except (TemplateError, ValueError) as error:
                log.exception("%s mail of record %s could not be written", notice.kind, notice.record.id)
                sweep.add_error(notice.member.id, notice.record.id, f"mail not queued: {type(error).__name__}")
                continue
        if notice.kind == "expired":
            announced.append(notice)
    queued_now = deps.store.outbox.queue(message for _, messages in to_queue for message in messages)
    for notice, messages in to_queue:
        _count_mail(sweep, notice, queued=bool(messages))
    _delete(deps, announced, sweep, pool)
    if queued_now + reminded:
        deps.sender.wake()


def _count_mail(sweep: _Sweep, notice: _Notice, *, queued: bool) -> None:
    if not notice.member.email:
        sweep.add(no_address=1)
    elif queued:
        sweep.add(mails_queued=1)


def _remind(deps: Deps, page: list[Member], sweep: _Sweep, catalogue: _Catalogue) -> int:
    """Queue each member's one reminder of the day, listing the records not reminded for their date; how many.

    A record counts as reminded once a combined reminder listed it, or an
    earlier version's per-record reminder was queued for it.
    """
    due: dict[int, tuple[Member, list[tuple[TrainingRecord, Course]]]] = {}
    for member in page:
        listed = [
            (record, course)
            for record in reminder_records(member.trainings or (), sweep.today, sweep.summary.reminder_days)
            if (course := catalogue.course_of(record)) is not None and is_remindable(course)
        ]
        if listed and member.email:
            due[member.id] = (member, listed)
    marks = {_mark(member, record): record for member, listed in due.values() for record, _ in listed}
    if not marks:
        return 0
    legacy = {reminder_mail_key(*mark): mark for mark in marks}
    done = deps.store.rules.reminded(marks) | {legacy[key] for key in deps.store.outbox.queued_keys(legacy)}
    batch: list[ReminderMail] = []
    for member, listed in due.values():
        fresh = [(record, course) for record, course in listed if _mark(member, record) not in done]
        if not fresh:
            continue
        key = reminder_day_key(member.id, sweep.today)
        try:
            messages = mails.reminder(deps, member, fresh, key)
        except (TemplateError, ValueError) as error:
            log.exception("reminder mail of member %s could not be written", member.id)
            sweep.add_error(member.id, None, f"mail not queued: {type(error).__name__}")
            continue
        batch.append(ReminderMail(messages, [_mark(member, record) for record, _ in fresh]))
    if sweep.dry_run:
        keys = [mail.messages[0].dedupe_key for mail in batch if mail.messages]
        sweep.add(reminders_queued=len(set(keys) - deps.store.outbox.queued_keys(keys)))
        return 0
    queued = deps.store.rules.queue_reminders(batch)
    sweep.add(reminders_queued=queued)
    return queued


def _mark(member: Member, record: TrainingRecord) -> ReminderMark:
    assert record.until_date is not None  # records in the reminder window have one
    return (member.id, record.id, record.until_date)


def _delete(deps: Deps, announced: list[_Notice], sweep: _Sweep, pool: ThreadPoolExecutor) -> None:
    """Remove announced records a few at a time; a failure is noted against its member, a removal logged as evidence."""
    running: list[tuple[_Notice, Future[bool]]] = [
        (notice, pool.submit(deps.fabman.delete_training, notice.member.id, notice.record.id)) for notice in announced
    ]
    for notice, future in running:
        try:
            removed = future.result()
        except FabmanError as error:
            log.warning("record %s of member %s not removed: %s", notice.record.id, notice.member.id, error)
            sweep.add_error(notice.member.id, notice.record.id, error)
        else:
            sweep.add(removed=int(removed))
            if removed:
                record, member = notice.record, notice.member
                fields = removal_fields(member.id, record.course_id, record.id, deps.now())
                deps.store.evidence.record(f"removed:{member.id}:{record.id}", fields, email=member.email)


def _alert_staff(deps: Deps, summary: ExpirySummary) -> None:
    """One alert a day when records could not be removed (the next run retries them)."""
    deps.store.outbox.queue(mails.sweep_errors(deps, summary.today, summary.errors))
    deps.sender.wake()
