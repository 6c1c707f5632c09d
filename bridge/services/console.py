"""What the staff console shows, and the two things staff do in it (replay a result, reset attempts).

Each page is one function over the store and, where it must, Fabman. Pages
that can be answered from the store alone (overview, results, evidence, staff
log) never call Fabman except for the cached course list, so they work while
Fabman is down; the member and expiring pages say when Fabman could not be
asked and show what the store knows. No page shows a full `cm_user_id`: the
stored payload is shown with it shortened, and mail is listed without its
body (quiz links in it carry tokens).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bridge.adapters.codec import redact
from bridge.adapters.fabman import FabmanError, FabmanNotFound, Member, TrainingRecord
from bridge.adapters.store.models import InboxEvent, LedgerEntry, OutboxMessage, StaffAction
from bridge.domain import attempts, courses, expiry
from bridge.domain.statuses import REPLAYABLE, EventStatus, MessageStatus
from bridge.services.deps import Deps
from bridge.services.results import Receipt
from bridge.services.staff_access import audit

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZE = 50
OVERVIEW_STATUSES = (
    EventStatus.APPLIED,
    EventStatus.QUEUED,
    EventStatus.ERROR,
    EventStatus.DEAD,
    EventStatus.REJECTED,
    EventStatus.AWAITING_GRADING,
    EventStatus.NEEDS_REVIEW,
)
EXPIRING_DAYS = 30
MAX_EXPIRING_DAYS = 366
EVIDENCE_COLUMNS: tuple[str, ...] = tuple(column.name for column in LedgerEntry.__table__.columns)
"""Every ledger column, in table order: the CSV header and the JSON keys."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and where it stands in the whole."""

    rows: list[T]
    total: int
    number: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, even when empty)."""
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class Period:
    """Local dates, both ends included, as the FabLab's calendar counts them."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def bounds(self, deps: Deps) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The UTC moments [from, before) the dates cover in TIMEZONE."""
        open_ended = self.date_to is None or self.date_to >= dt.date.max - dt.timedelta(days=1)
        return (
            _start_of(self.date_from, deps) if self.date_from else None,
            None if open_ended or self.date_to is None else _start_of(self.date_to + dt.timedelta(days=1), deps),
        )


@dataclass(frozen=True)
class ResultFilter:
    """Which results the list shows."""

    status: EventStatus | None = None
    member_id: int | None = None
    course_id: int | None = None
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class EvidenceFilter:
    """Which ledger rows the evidence search returns."""

    member_id: int | None = None
    course_id: int | None = None
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class Overview:
    """The front page's counts: results today and in the last 7 days per status, mail waiting or dead."""

    today: dt.date
    week_from: dt.date
    today_counts: dict[str, int]
    week_counts: dict[str, int]
    mail_counts: dict[str, int]
    verification_off: bool = False
    """VERIFY_CLASSMARKER_REQUESTS is off (outside prod only): anyone may post a result; the page says so first."""


@dataclass(frozen=True)
class ResultRow:
    """A result as the list shows it."""

    event: InboxEvent
    member_name: str | None
    course_title: str | None

    @property
    def applied_at(self) -> dt.datetime | None:
        """When it was applied to Fabman (its last change, for an applied result)."""
        return self.event.updated_at if self.event.status == EventStatus.APPLIED else None


@dataclass(frozen=True)
class Moment:
    """One line of a result's timeline."""

    at: dt.datetime
    kind: str
    detail: str | None = None


@dataclass(frozen=True)
class ResultDetail:
    """Everything known about one result."""

    row: ResultRow
    payload: str
    timeline: list[Moment]
    mails: list[OutboxMessage]
    ledger: LedgerEntry | None
    staff_actions: list[StaffAction]

    @property
    def replayable(self) -> bool:
        return self.row.event.status in REPLAYABLE

    @property
    def reviewable(self) -> bool:
        """Reconciliation could not tell a pass from a fail: staff judge it (contract section 11)."""
        return self.row.event.status == EventStatus.NEEDS_REVIEW


@dataclass(frozen=True)
class TrainingLine:
    """One of a member's training records and where it stands today."""

    record: TrainingRecord
    course_title: str
    state: str
    """active, expiring (within REMINDER_DAYS) or expired."""


@dataclass(frozen=True)
class AttemptLine:
    """Failed attempts of one course, against what the course allows."""

    course_id: int
    course_title: str
    used: int
    allowed: int | None

    @property
    def left(self) -> int | None:
        return None if self.allowed is None else max(0, self.allowed - self.used)


@dataclass(frozen=True)
class MemberPage:
    """A member as Fabman and the bridge know them."""

    member_id: int
    member: Member | None
    fabman_problem: str | None
    trainings: list[TrainingLine]
    attempts: list[AttemptLine]
    evidence: list[LedgerEntry]
    mails: list[OutboxMessage]
    results: list[ResultRow]


@dataclass(frozen=True)
class ExpiringTraining:
    """A training that ends soon."""

    member_id: int
    member_name: str
    course_id: int
    course_title: str
    until_date: dt.date
    days_left: int


class Console:
    """The staff console's pages and audited actions."""

    def __init__(
        self,
        deps: Deps,
        *,
        replay: Callable[[int], Receipt],
        review: Callable[[int, bool], Receipt],
        reset_attempts: Callable[[int, int], dict[str, Any]],
    ) -> None:
        self.deps = deps
        self._replay = replay
        self._review = review
        self._reset_attempts = reset_attempts

    # -- overview -------------------------------------------------------------------

    def overview(self) -> Overview:
        """Counts for the front page, from the store alone."""
        today = self.deps.today()
        week_from = today - dt.timedelta(days=6)
        store = self.deps.store
        return Overview(
            today=today,
            week_from=week_from,
            today_counts=store.event_counts_since(_start_of(today, self.deps)),
            week_counts=store.event_counts_since(_start_of(week_from, self.deps)),
            mail_counts=store.message_counts((MessageStatus.PENDING, MessageStatus.DEAD)),
            verification_off=not self.deps.settings.verify_classmarker_requests,
        )

    # -- results --------------------------------------------------------------------

    def results(self, wanted: ResultFilter, number: int = 1) -> Page[ResultRow]:
        """One page of the inbox, newest first."""
        received_from, received_before = wanted.period.bounds(self.deps)
        events, total = self.deps.store.find_events(
            status=wanted.status,
            member_id=wanted.member_id,
            course_id=wanted.course_id,
            received_from=received_from,
            received_before=received_before,
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        return Page(self._rows(events), total, number)

    def result(self, event: InboxEvent) -> ResultDetail:
        """One result with its timeline, mail, ledger row and the staff actions on it, named as in Fabman."""
        store = self.deps.store
        mails = store.event_messages(event.id)
        ledger = store.ledger_of_result(event.result_key)
        actions, _ = store.staff_actions(target=result_target(event.id), limit=100)
        row = self._rows([event])[0]
        if event.member_id is not None:
            row = ResultRow(event, self._fabman_name(event.member_id) or row.member_name, row.course_title)
        return ResultDetail(
            row=row,
            payload=shown_payload(event.payload),
            timeline=_timeline(event, mails, ledger, actions),
            mails=mails,
            ledger=ledger,
            staff_actions=actions,
        )

    def replay(self, staff: str, event_id: int) -> Receipt:
        """Replay a result for a staff member, recorded in the staff log."""
        return self._audited(staff, "replay", event_id, lambda: self._replay(event_id))

    def review(self, staff: str, event_id: int, *, passed: bool) -> Receipt:
        """Apply a needs_review result with a staff member's verdict, recorded in the staff log."""
        verdict = "passed" if passed else "failed"
        return self._audited(staff, "review", event_id, lambda: self._review(event_id, passed), verdict=verdict)

    def _audited(
        self, staff: str, action: str, event_id: int, run: Callable[[], Receipt], *, verdict: str | None = None
    ) -> Receipt:
        """Run a staff action on a result and record it in the staff log, with what came of it (or how it failed)."""
        try:
            receipt = run()
        except Exception as error:
            failed = f"failed: {type(error).__name__}"
            audit(self.deps, staff, action, result_target(event_id), f"{verdict}, {failed}" if verdict else failed)
            raise
        done = " ".join(filter(None, (receipt.status, receipt.outcome)))
        audit(self.deps, staff, action, result_target(event_id), f"{verdict}: {done}" if verdict else done)
        return receipt

    # -- members ---------------------------------------------------------------------

    def find_members(self, query: str) -> list[Member]:
        """Members whose name or e-mail matches (Fabman's search)."""
        return self.deps.fabman.find_members(query.strip(), limit=25)

    def member(self, member_id: int) -> MemberPage:
        """A member's trainings and attempts from Fabman, their evidence, mail and results from the store."""
        store = self.deps.store
        member: Member | None = None
        problem: str | None = None
        try:
            member = self.deps.fabman.get_member(member_id, trainings=True, privileges=True)
        except FabmanNotFound:
            problem = "not_found"
        except FabmanError as error:
            log.warning("member page without Fabman: %s", error)
            problem = "unavailable"
        titles = self._course_titles()
        evidence, _ = store.find_ledger(member_id=member_id, limit=100)
        events, _ = store.find_events(member_id=member_id, limit=20)
        return MemberPage(
            member_id=member_id,
            member=member,
            fabman_problem=problem,
            trainings=self._training_lines(member, titles) if member else [],
            attempts=self._attempt_lines(member) if member else [],
            evidence=evidence,
            mails=store.messages(member_id=member_id, limit=50),
            results=self._rows(events, titles),
        )

    def reset_attempts(self, staff: str, member_id: int, course_id: int) -> dict[str, Any]:
        """Clear a member's failed attempts of a course for a staff member, recorded in the staff log."""
        target = f"member:{member_id}"
        try:
            reset = self._reset_attempts(member_id, course_id)
        except Exception as error:
            audit(self.deps, staff, "reset", target, f"course {course_id}: failed: {type(error).__name__}")
            raise
        audit(self.deps, staff, "reset", target, f"course {course_id}: {reset['attempts_before']} -> 0")
        return reset

    # -- evidence ----------------------------------------------------------------------

    def evidence(self, wanted: EvidenceFilter, number: int = 1) -> Page[LedgerEntry]:
        """One page of the ledger, newest first."""
        rows, total = self._ledger(wanted, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return Page(rows, total, number)

    def evidence_rows(self, wanted: EvidenceFilter, *, offset: int = 0, limit: int | None = None) -> list[LedgerEntry]:
        """Every matching ledger row (or a slice), for the CSV, the JSON endpoint and the CLI."""
        return self._ledger(wanted, offset=offset, limit=limit)[0]

    def _ledger(self, wanted: EvidenceFilter, *, offset: int, limit: int | None) -> tuple[list[LedgerEntry], int]:
        granted_from, granted_before = wanted.period.bounds(self.deps)
        return self.deps.store.find_ledger(
            member_id=wanted.member_id,
            course_id=wanted.course_id,
            granted_from=granted_from,
            granted_before=granted_before,
            offset=offset,
            limit=limit,
        )

    # -- expiring ------------------------------------------------------------------------

    def expiring(self, days: int = EXPIRING_DAYS) -> list[ExpiringTraining]:
        """Trainings ending within `days` days that the member has not renewed, soonest first (every member's)."""
        today = self.deps.today()
        titles = self._course_titles()
        found = []
        for page in self.deps.fabman.iter_member_pages(trainings=True, privileges=False):
            for member in page:
                for record in expiry.reminder_records(member.trainings or (), today, days):
                    assert record.until_date is not None
                    found.append(
                        ExpiringTraining(
                            member_id=member.id,
                            member_name=member.display_name,
                            course_id=record.course_id,
                            course_title=titles.get(record.course_id) or _record_title(record),
                            until_date=record.until_date,
                            days_left=(record.until_date - today).days,
                        )
                    )
        return sorted(found, key=lambda item: (item.until_date, item.member_name))

    # -- mail --------------------------------------------------------------------------

    def mail(self, status: MessageStatus | None, number: int = 1) -> Page[OutboxMessage]:
        """One page of the outbox (listed without bodies), newest first."""
        rows, total = self.deps.store.find_messages(status=status, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return Page(rows, total, number)

    # -- staff log -----------------------------------------------------------------------

    def staff_log(self, number: int = 1) -> Page[StaffAction]:
        """Every staff action, newest first."""
        rows, total = self.deps.store.staff_actions(offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return Page(rows, total, number)

    # -- shared --------------------------------------------------------------------------

    def course_titles(self) -> dict[int, str]:
        """Course titles by id for filters and lists; empty while Fabman cannot be asked."""
        return self._course_titles()

    def _course_titles(self) -> dict[int, str]:
        try:
            return {course.id: course.title for course in self.deps.fabman.courses().values()}
        except FabmanError as error:
            log.warning("course titles unavailable: %s", error)
            return {}

    def _fabman_name(self, member_id: int) -> str | None:
        """The member's name in Fabman (the one page that shows a single result asks for it)."""
        try:
            return self.deps.fabman.get_member(member_id, trainings=False, privileges=False).display_name or None
        except FabmanError:
            return None

    def _rows(self, events: Iterable[InboxEvent], titles: dict[int, str] | None = None) -> list[ResultRow]:
        listed = list(events)
        if not listed:
            return []
        known = self._course_titles() if titles is None else titles
        return [
            ResultRow(
                event=event,
                member_name=payload_name(event.payload),
                course_title=(known.get(event.course_id) if event.course_id is not None else None) or event.test_name,
            )
            for event in listed
        ]

    def _training_lines(self, member: Member, titles: dict[int, str]) -> list[TrainingLine]:
        today = self.deps.today()
        lines = []
        for record in member.trainings or ():
            if expiry.is_expired(record, today):
                state = "expired"
            elif expiry.expires_within(record, today, self.deps.settings.reminder_days):
                state = "expiring"
            else:
                state = "active"
            lines.append(TrainingLine(record, titles.get(record.course_id) or _record_title(record), state))
        order = {"expiring": 0, "active": 1, "expired": 2}
        return sorted(lines, key=lambda line: (order[line.state], line.course_title))

    def _attempt_lines(self, member: Member) -> list[AttemptLine]:
        try:
            known = self.deps.fabman.courses()
        except FabmanError:
            known = {}
        lines = []
        for entry in attempts.failed_entries(member.metadata):
            try:
                course_id = int(entry.get("id"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            course = known.get(course_id)
            allowed = courses.max_attempts(course, self.deps.settings.max_course_attempts) if course else None
            title = course.title if course else str(entry.get("title") or course_id)
            lines.append(AttemptLine(course_id, title, attempts.attempts_used(member.metadata, course_id), allowed))
        return lines


def result_target(event_id: int) -> str:
    """How the staff log names a result."""
    return f"result:{event_id}"


def payload_name(payload: str) -> str | None:
    """The member's name as ClassMarker received it with the result (no call to Fabman needed)."""
    try:
        result = json.loads(payload).get("result") or {}
    except (ValueError, AttributeError):
        return None
    if not isinstance(result, dict):
        return None
    name = " ".join(str(result.get(part) or "").strip() for part in ("first", "last")).strip()
    return name or None


def shown_payload(payload: str) -> str:
    """The stored payload, pretty-printed, with the `cm_user_id` shortened (no page shows it whole)."""
    try:
        document = json.loads(payload)
    except ValueError:
        return "(not JSON)"
    result = document.get("result") if isinstance(document, dict) else None
    token = result.get("cm_user_id") if isinstance(result, dict) else None
    if isinstance(token, str) and token:
        result["cm_user_id"] = redact(token)  # type: ignore[index]
    shown = json.dumps(document, indent=2, ensure_ascii=False)
    return shown.replace(token, redact(token)) if isinstance(token, str) and token else shown


def evidence_record(entry: LedgerEntry) -> dict[str, Any]:
    """A ledger row with every column, as JSON values."""
    record = {}
    for name in EVIDENCE_COLUMNS:
        value = getattr(entry, name)
        record[name] = value.isoformat() if isinstance(value, dt.datetime) else value
    return record


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP's list): such a cell is prefixed with `'`."""


def csv_cell(value: Any) -> str:
    """One CSV cell as text that a spreadsheet shows and never runs (`=HYPERLINK(...)` in a quiz name stays text)."""
    if value is None:
        text = ""
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def evidence_csv(entries: Iterable[LedgerEntry]) -> str:
    """The ledger rows as CSV: a header row, every column, the evidence as JSON text, no cell a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EVIDENCE_COLUMNS)
    for entry in entries:
        writer.writerow([csv_cell(value) for value in evidence_record(entry).values()])
    return buffer.getvalue()


def _start_of(day: dt.date, deps: Deps) -> dt.datetime:
    """Midnight of a local date, in UTC (dates at the calendar's very ends are moved a day in)."""
    inside = min(max(day, dt.date.min + dt.timedelta(days=1)), dt.date.max - dt.timedelta(days=1))
    return dt.datetime.combine(inside, dt.time(0), tzinfo=deps.settings.tz).astimezone(dt.UTC)


def _record_title(record: TrainingRecord) -> str:
    return record.course.title if record.course is not None else f"#{record.course_id}"


def _timeline(
    event: InboxEvent, mails: list[OutboxMessage], ledger: LedgerEntry | None, actions: list[StaffAction]
) -> list[Moment]:
    """What happened to a result, in order, from what the store recorded."""
    moments = [Moment(event.received_at, "received", event.test_name)]
    moments += [
        Moment(action.at, f"staff_{action.action}", f"{action.staff}: {action.detail or ''}".strip(": ")) for action in actions
    ]
    if ledger is not None:
        moments.append(Moment(ledger.granted_at, "granted", f"Fabman #{ledger.fabman_record_id}"))
    for mail in mails:
        moments.append(Moment(mail.created_at, "mail_queued", mail.subject))
        if mail.sent_at is not None:
            moments.append(Moment(mail.sent_at, "mail_sent", mail.recipient or mail.channel))
        elif mail.status == MessageStatus.DEAD:
            moments.append(Moment(mail.created_at, "mail_dead", mail.last_error))
    moments.append(Moment(event.updated_at, f"now_{event.status}", event.last_error or event.outcome))
    if event.status == EventStatus.QUEUED and event.next_attempt_at is not None:
        moments.append(Moment(event.next_attempt_at, "next_attempt"))
    return sorted(moments, key=lambda moment: moment.at)
