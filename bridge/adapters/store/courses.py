"""What the course rules of contract sections 15 and 18 keep and ask of the store.

- Renewals on use (section 15) are evidence: each is a row of the training
  ledger, written by the one method :meth:`CourseQueries.record_renewal`, so
  whatever hooks ledger writes (the evidence log) sees it. Its `result_id`
  is `renewed:<member>:<course>:<day>`, unique like every ledger row's, which
  is what keeps renewals at most one per member, course and day.

- The statistics (section 18) count a year of results from the inbox (score
  and finish time are kept on each row, so they outlive the purged payload)
  and the holders from the ledger. The reads are a range of the inbox by
  `received_at`, each member's history by `(member_id, course_id)` and the
  ledger by `until_date`, all on indexes (revision 0010); the counting is done
  here, in Python, the same on SQLite and PostgreSQL.

:class:`CourseQueries` is mixed into :class:`bridge.adapters.store.Store`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from bridge.adapters.store.core import StoreBase
from bridge.adapters.store.models import InboxEvent, LedgerEntry
from bridge.domain.statistics import CourseMonth, Month
from bridge.domain.statuses import EventStatus

LATE_RESULTS = dt.timedelta(days=14)
"""How much later than its quiz finished a result may reach the bridge (reconciliation looks back 14 days)."""
MEMBER_CHUNK = 500
RENEWED = "renewed"
"""The evidence event of a renewal (section 16's event names)."""


def renewal_key(member_id: int, course_id: int, day: dt.date) -> str:
    """The ledger `result_id` of a member's renewal of a course on one day."""
    return f"{RENEWED}:{member_id}:{course_id}:{day.isoformat()}"


class CourseQueries(StoreBase):
    """Store methods of the course rules; mixed into :class:`~bridge.adapters.store.Store`."""

    def renewed_on(self, member_id: int, course_id: int, day: dt.date) -> bool:
        """Whether the member's training of the course was already renewed on that day."""
        with self._read() as session:
            found = session.scalar(select(LedgerEntry.id).where(LedgerEntry.result_id == renewal_key(member_id, course_id, day)))
        return found is not None

    def record_renewal(
        self,
        *,
        member_id: int,
        course_id: int,
        course_title: str,
        day: dt.date,
        fabman_record_id: int,
        training_date: dt.date | None,
        until_date: dt.date | None,
        evidence: dict[str, Any],
    ) -> bool:
        """Record a renewal as evidence (a ledger row), once per member, course and day; True when this call did."""
        now = self.now()
        row = {
            "result_id": renewal_key(member_id, course_id, day),
            "member_id": member_id,
            "course_id": course_id,
            "course_title": course_title[:255],
            "fabman_record_id": fabman_record_id,
            "training_date": training_date.isoformat() if training_date else None,
            "until_date": until_date.isoformat() if until_date else None,
            "evidence": {"event": RENEWED, **evidence},
            "granted_at": now,
        }
        with self._write() as session:
            return self._insert_ignore(session, LedgerEntry, row)

    # -- statistics (section 18) --------------------------------------------------------

    def course_stats(self, months: Sequence[Month], tz: ZoneInfo) -> list[CourseMonth]:
        """Every course with a result or a holder in `months`, one row per course and month, oldest month first."""
        labels = [month.label for month in months]
        start = dt.datetime.combine(months[0].first, dt.time(), tz).astimezone(dt.UTC)
        with self._read() as session:
            window = [
                row
                for row in session.execute(
                    select(*_RESULT_COLUMNS).where(InboxEvent.received_at >= start - LATE_RESULTS, *_COUNTED)
                ).all()
                if _month_of(row, tz) in labels
            ]
            history = self._histories(session, {row.member_id for row in window if row.member_id is not None})
            held = session.execute(
                select(LedgerEntry.member_id, LedgerEntry.course_id, LedgerEntry.training_date, LedgerEntry.until_date).where(
                    or_(LedgerEntry.until_date.is_(None), LedgerEntry.until_date > months[0].first.isoformat()),
                    or_(LedgerEntry.training_date.is_(None), LedgerEntry.training_date <= months[-1].end.isoformat()),
                )
            ).all()
        return _rows(months, tz, window, history, held)

    def _histories(self, session: Any, members: set[int]) -> list[Any]:
        """Every counted result of these members (for their first attempt of each course)."""
        found: list[Any] = []
        ordered = sorted(members)
        for index in range(0, len(ordered), MEMBER_CHUNK):
            chunk = ordered[index : index + MEMBER_CHUNK]
            found += session.execute(select(*_RESULT_COLUMNS).where(InboxEvent.member_id.in_(chunk), *_COUNTED)).all()
        return found


_RESULT_COLUMNS = (
    InboxEvent.id,
    InboxEvent.member_id,
    InboxEvent.course_id,
    InboxEvent.passed,
    InboxEvent.percentage,
    InboxEvent.finished_at,
    InboxEvent.received_at,
)
_COUNTED = (
    InboxEvent.course_id.is_not(None),
    InboxEvent.passed.is_not(None),
    InboxEvent.status != EventStatus.AWAITING_GRADING,
)
"""A result counts when it names a course, says pass or fail, and is not the ungraded copy of a graded one."""


def _moment(row: Any) -> dt.datetime:
    moment: dt.datetime = row.finished_at or row.received_at
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _month_of(row: Any, tz: ZoneInfo) -> str:
    return _moment(row).astimezone(tz).strftime("%Y-%m")


def _rows(
    months: Sequence[Month], tz: ZoneInfo, window: Iterable[Any], history: Iterable[Any], held: Iterable[Any]
) -> list[CourseMonth]:
    labels = [month.label for month in months]
    results: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in window:
        results[(row.course_id, _month_of(row, tz))].append(row)
    first: dict[tuple[int, int], Any] = {}
    for row in history:
        key = (row.member_id, row.course_id)
        if key not in first or (_moment(row), row.id) < (_moment(first[key]), first[key].id):
            first[key] = row
    firsts: dict[tuple[int, str], list[bool]] = defaultdict(list)
    for row in first.values():
        if _month_of(row, tz) in labels:
            firsts[(row.course_id, _month_of(row, tz))].append(bool(row.passed))
    holders: dict[tuple[int, str], set[int]] = defaultdict(set)
    for member_id, course_id, since, until in held:
        for month in months:
            day = month.end.isoformat()
            if (since is None or since <= day) and (until is None or until > day):
                holders[(course_id, month.label)].add(member_id)
    courses = sorted({course for course, _ in results} | {course for course, _ in holders})
    return [_row(course, label, results, firsts, holders) for course in courses for label in labels]


def _row(
    course_id: int,
    label: str,
    results: dict[tuple[int, str], list[Any]],
    firsts: dict[tuple[int, str], list[bool]],
    holders: dict[tuple[int, str], set[int]],
) -> CourseMonth:
    month = results.get((course_id, label), [])
    passes = sum(1 for row in month if row.passed)
    scores = [row.percentage for row in month if row.percentage is not None]
    first = firsts.get((course_id, label), [])
    return CourseMonth(
        course_id=course_id,
        month=label,
        results=len(month),
        passes=passes,
        fails=len(month) - passes,
        first_attempt_pass_share=round(sum(first) / len(first), 4) if first else None,
        median_score=round(float(statistics.median(scores)), 2) if scores else None,
        holders=len(holders.get((course_id, label), ())),
    )
