"""The console's pages read from the store: the overview, results, a result, evidence, expiring trainings, mail, the staff log.

Only the expiring page needs Fabman's members; the others ask Fabman for
nothing but the cached course list (and a result's page for its member's
name), and show what the store knows when it cannot be asked.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.adapters.fabman import FabmanError, TrainingRecord
from bridge.adapters.store.models import InboxEvent, LedgerEntry, OutboxMessage, StaffAction
from bridge.domain import expiry, requirements
from bridge.domain.statuses import REPLAYABLE, EventStatus, MessageStatus
from bridge.services.console.actions import result_target
from bridge.services.console.exports import search_ledger
from bridge.services.console.filters import PAGE_SIZE, EvidenceFilter, Page, ResultFilter, start_of
from bridge.services.console.redaction import payload_name, shown_payload
from bridge.services.deps import Deps

log = logging.getLogger(__name__)

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
    requirement_problems: list[tuple[int, str, str]] = field(default_factory=list)
    """Courses whose `requires` can never be met (section 15): id, title, what is wrong."""


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
class ExpiringTraining:
    """A training that ends soon."""

    member_id: int
    member_name: str
    course_id: int
    course_title: str
    until_date: dt.date
    days_left: int


# -- overview -------------------------------------------------------------------------


def overview(deps: Deps) -> Overview:
    """Counts for the front page from the store; courses with unmeetable requirements from the cached course list."""
    today = deps.today()
    week_from = today - dt.timedelta(days=6)
    return Overview(
        today=today,
        week_from=week_from,
        today_counts=deps.store.console.event_counts_since(start_of(today, deps)),
        week_counts=deps.store.console.event_counts_since(start_of(week_from, deps)),
        mail_counts=deps.store.console.message_counts((MessageStatus.PENDING, MessageStatus.DEAD)),
        verification_off=not deps.settings.verify_classmarker_requests,
        requirement_problems=_requirement_problems(deps),
    )


def _requirement_problems(deps: Deps) -> list[tuple[int, str, str]]:
    """Courses with requirements that name unknown courses or form a cycle (the cached course list)."""
    try:
        known = deps.fabman.courses()
    except FabmanError as error:
        log.warning("overview without the requirement check: %s", error)
        return []
    found = requirements.problems(known)
    return [(problem.course_id, known[problem.course_id].title, problem.describe()) for problem in found]


# -- results --------------------------------------------------------------------------


def results(deps: Deps, wanted: ResultFilter, number: int = 1) -> Page[ResultRow]:
    """One page of the inbox, newest first."""
    received_from, received_before = wanted.period.bounds(deps)
    events, total = deps.store.console.find_events(
        status=wanted.status,
        member_id=wanted.member_id,
        course_id=wanted.course_id,
        received_from=received_from,
        received_before=received_before,
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return Page(result_rows(deps, events), total, number)


def result(deps: Deps, event: InboxEvent) -> ResultDetail:
    """One result with its timeline, mail, ledger row and the staff actions on it, named as in Fabman."""
    store = deps.store
    mails = store.console.event_messages(event.id)
    ledger = store.console.ledger_of_result(event.result_key)
    actions, _ = store.console.staff_actions(target=result_target(event.id), limit=100)
    row = result_rows(deps, [event])[0]
    if event.member_id is not None:
        row = ResultRow(event, _fabman_name(deps, event.member_id) or row.member_name, row.course_title)
    return ResultDetail(
        row=row,
        payload=shown_payload(event.payload),
        timeline=_timeline(event, mails, ledger, actions),
        mails=mails,
        ledger=ledger,
        staff_actions=actions,
    )


def result_rows(deps: Deps, events: Iterable[InboxEvent], titles: dict[int, str] | None = None) -> list[ResultRow]:
    """Results as lists show them: the name ClassMarker received, the course's title (or the quiz's name)."""
    listed = list(events)
    if not listed:
        return []
    known = course_titles(deps) if titles is None else titles
    return [
        ResultRow(
            event=event,
            member_name=payload_name(event.payload),
            course_title=(known.get(event.course_id) if event.course_id is not None else None) or event.test_name,
        )
        for event in listed
    ]


def _fabman_name(deps: Deps, member_id: int) -> str | None:
    """The member's name in Fabman (the one page that shows a single result asks for it)."""
    try:
        return deps.fabman.get_member(member_id, trainings=False, privileges=False).display_name or None
    except FabmanError:
        return None


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


# -- evidence -------------------------------------------------------------------------


def evidence(deps: Deps, wanted: EvidenceFilter, number: int = 1) -> Page[LedgerEntry]:
    """One page of the ledger, newest first."""
    rows, total = search_ledger(deps, wanted, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(rows, total, number)


# -- expiring -------------------------------------------------------------------------


def expiring(deps: Deps, days: int = EXPIRING_DAYS) -> list[ExpiringTraining]:
    """Trainings ending within `days` days that the member has not renewed, soonest first (every member's)."""
    today = deps.today()
    titles = course_titles(deps)
    found = []
    for page in deps.fabman.iter_member_pages(trainings=True, privileges=False):
        for member in page:
            for record in expiry.reminder_records(member.trainings or (), today, days):
                assert record.until_date is not None
                found.append(
                    ExpiringTraining(
                        member_id=member.id,
                        member_name=member.display_name,
                        course_id=record.course_id,
                        course_title=titles.get(record.course_id) or record_title(record),
                        until_date=record.until_date,
                        days_left=(record.until_date - today).days,
                    )
                )
    return sorted(found, key=lambda item: (item.until_date, item.member_name))


# -- mail and the staff log -----------------------------------------------------------


def mail(deps: Deps, status: MessageStatus | None, number: int = 1) -> Page[OutboxMessage]:
    """One page of the outbox (listed without bodies), newest first."""
    rows, total = deps.store.console.find_messages(status=status, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(rows, total, number)


def staff_log(deps: Deps, number: int = 1) -> Page[StaffAction]:
    """Every staff action, newest first."""
    rows, total = deps.store.console.staff_actions(offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(rows, total, number)


# -- shared ---------------------------------------------------------------------------


def course_titles(deps: Deps) -> dict[int, str]:
    """Course titles by id for filters and lists; empty while Fabman cannot be asked."""
    try:
        return {course.id: course.title for course in deps.fabman.courses().values()}
    except FabmanError as error:
        log.warning("course titles unavailable: %s", error)
        return {}


def record_title(record: TrainingRecord) -> str:
    """A training record's course title as the record itself names it."""
    return record.course.title if record.course is not None else f"#{record.course_id}"
