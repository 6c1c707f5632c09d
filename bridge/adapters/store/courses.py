"""What the course rules of contract sections 15 and 18 keep and ask of the store.

- Renewals on use (section 15) are evidence: each is a row of the training
  ledger, written by the one method :meth:`CourseStore.record_renewal`, so
  whatever hooks ledger writes (the evidence log) sees it. Its `result_id`
  is `renewed:<member>:<course>:<day>`, unique like every ledger row's, which
  is what keeps renewals at most one per member, course and day.

- The statistics (section 18) count a year of results from the inbox (score
  and finish time are kept on each row, so they outlive the purged payload)
  and the holders from the ledger. Three reads: the year's results (a range
  of `received_at`), the distinct (member, course) pairs with a result before
  it (so a first attempt is a first attempt), and the ledger rows still
  running in it (`until_date`), on indexes (revisions 0004 and 0010); the
  counting is done here, in Python, the same on SQLite and PostgreSQL.

:class:`CourseStore` is the store's part `store.courses`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from bridge.adapters.store.database import Database
from bridge.adapters.store.evidence import EvidenceStore
from bridge.adapters.store.ledger import LedgerStore
from bridge.adapters.store.models import InboxEvent, LedgerEntry, UtcDateTime
from bridge.domain.evidence import EvidenceEvent, LeafFields, utc_text
from bridge.domain.statistics import CourseMonth, Month
from bridge.domain.statuses import EventStatus

LATE_RESULTS = dt.timedelta(days=14)
"""How much later than its quiz finished a result may reach the bridge (reconciliation looks back 14 days)."""
RENEWED = "renewed"
"""The evidence event of a renewal (section 16's event names)."""


def renewal_key(member_id: int, course_id: int, day: dt.date) -> str:
    """The ledger `result_id` of a member's renewal of a course on one day."""
    return f"{RENEWED}:{member_id}:{course_id}:{day.isoformat()}"


class CourseStore:
    """Renewals on use and the statistics (`store.courses`); a renewal's ledger row and leaf are one transaction."""

    def __init__(self, database: Database, *, ledger: LedgerStore, evidence: EvidenceStore) -> None:
        self._db = database
        self._ledger = ledger
        self._evidence = evidence

    def renewed_on(self, member_id: int, course_id: int, day: dt.date) -> bool:
        """Whether the member's training of the course was already renewed on that day."""
        with self._db.read() as session:
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
        what: str | None = None,
        used_at: dt.datetime | None = None,
        email: str | None = None,
    ) -> bool:
        """Record a renewal as evidence, once per member, course and day; True when this call did.

        The ledger row and its `renewed` leaf in the evidence log are written in
        one transaction (section 16), so `flask evidence verify` finds each in
        the other. `what` is shown where a pass shows its quiz, `used_at` where
        it shows when the quiz finished; `email` makes the leaf's `subject`.
        """
        now = self._db.now()
        key = renewal_key(member_id, course_id, day)
        row = {
            "result_id": key,
            "member_id": member_id,
            "course_id": course_id,
            "course_title": course_title[:255],
            "fabman_record_id": fabman_record_id,
            "training_date": training_date.isoformat() if training_date else None,
            "until_date": until_date.isoformat() if until_date else None,
            "evidence": {"event": RENEWED, **evidence},
            "quiz_name": what[:255] if what else None,
            "time_finished": used_at,
            "granted_at": now,
        }
        leaf = LeafFields(
            event=EvidenceEvent.RENEWED,
            member_id=member_id,
            course_id=course_id,
            result_id=key,
            finished_at=utc_text(used_at),
            recorded_at=utc_text(now),
            fabman_record_id=fabman_record_id,
        )
        with self._db.write() as session:
            if not self._ledger.add(session, row):
                return False
            self._evidence.append(session, key, leaf, email=email)
            return True

    # -- statistics (section 18) --------------------------------------------------------

    def stats(self, months: Sequence[Month], tz: ZoneInfo) -> list[CourseMonth]:
        """Every course with a result or a holder in `months`, one row per course and month, oldest month first."""
        calendar = _Calendar(months, tz)
        start = calendar.bounds[0]
        with self._db.read() as session:
            recent = session.execute(
                select(*_RESULT_COLUMNS).where(InboxEvent.received_at >= start - LATE_RESULTS, *_COUNTED)
            ).all()
            earlier = {
                (int(member_id), int(course_id))
                for member_id, course_id in session.execute(
                    select(InboxEvent.member_id, InboxEvent.course_id).where(InboxEvent.received_at < start, *_COUNTED).distinct()
                )
                if member_id is not None
            }
            held = session.execute(
                select(LedgerEntry.member_id, LedgerEntry.course_id, LedgerEntry.training_date, LedgerEntry.until_date).where(
                    or_(LedgerEntry.until_date.is_(None), LedgerEntry.until_date > months[0].first.isoformat()),
                    or_(LedgerEntry.training_date.is_(None), LedgerEntry.training_date <= months[-1].end.isoformat()),
                )
            ).all()
        return _rows(calendar, recent, earlier, held)


_RESULT_COLUMNS = (
    InboxEvent.id,
    InboxEvent.member_id,
    InboxEvent.course_id,
    InboxEvent.passed,
    InboxEvent.percentage,
    func.coalesce(InboxEvent.finished_at, InboxEvent.received_at, type_=UtcDateTime()).label("moment"),
)
"""A result's columns for the statistics; `moment` is when its quiz finished (else when it was received)."""
_COUNTED = (
    InboxEvent.course_id.is_not(None),
    InboxEvent.passed.is_not(None),
    InboxEvent.status != EventStatus.AWAITING_GRADING,
)
"""A result counts when it names a course, says pass or fail, and is not the ungraded copy of a graded one."""


class _Calendar:
    """The months' first moments in UTC, so each result finds its month by one bisection."""

    def __init__(self, months: Sequence[Month], tz: ZoneInfo) -> None:
        self.months = list(months)
        following = (months[-1].first + dt.timedelta(days=32)).replace(day=1)
        firsts = [month.first for month in months] + [following]
        self.bounds = [dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC) for day in firsts]

    def index(self, moment: dt.datetime) -> int | None:
        """The month a moment falls in (its index), or None outside the months."""
        found = bisect.bisect_right(self.bounds, moment) - 1
        return found if 0 <= found < len(self.months) else None


def _moment(row: Any) -> dt.datetime:
    moment: dt.datetime = row.moment
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _rows(calendar: _Calendar, recent: Iterable[Any], earlier: set[tuple[int, int]], held: Iterable[Any]) -> list[CourseMonth]:
    count = len(calendar.months)
    results: dict[int, list[list[Any]]] = defaultdict(lambda: [[] for _ in range(count)])
    first: dict[tuple[int, int], tuple[dt.datetime, int, int | None, bool]] = {}
    for row in recent:
        moment = _moment(row)
        index = calendar.index(moment)
        pair = (row.member_id, row.course_id)
        if index is None:
            if moment < calendar.bounds[0]:
                earlier.add(pair)
            continue
        results[row.course_id][index].append(row)
        if pair not in first or (moment, row.id) < first[pair][:2]:
            first[pair] = (moment, row.id, index, bool(row.passed))
    firsts: dict[int, list[list[bool]]] = defaultdict(lambda: [[] for _ in range(count)])
    for pair, (_, _, index, passed) in first.items():
        if pair not in earlier and index is not None:
            firsts[pair[1]][index].append(passed)
    ends = [month.end.isoformat() for month in calendar.months]
    holders: dict[int, list[set[int]]] = defaultdict(lambda: [set() for _ in range(count)])
    for member_id, course_id, since, until in held:
        for index, day in enumerate(ends):
            if (since is None or since <= day) and (until is None or until > day):
                holders[course_id][index].add(member_id)
    empty_results: list[list[Any]] = [[] for _ in range(count)]
    empty_firsts: list[list[bool]] = [[] for _ in range(count)]
    empty_holders: list[set[int]] = [set() for _ in range(count)]
    return [
        _row(
            course_id,
            month.label,
            results.get(course_id, empty_results)[index],
            firsts.get(course_id, empty_firsts)[index],
            len(holders.get(course_id, empty_holders)[index]),
        )
        for course_id in sorted(set(results) | set(holders))
        for index, month in enumerate(calendar.months)
    ]


def _row(course_id: int, label: str, month: list[Any], first: list[bool], holders: int) -> CourseMonth:
    passes = sum(1 for row in month if row.passed)
    scores = [row.percentage for row in month if row.percentage is not None]
    return CourseMonth(
        course_id=course_id,
        month=label,
        results=len(month),
        passes=passes,
        fails=len(month) - passes,
        first_attempt_pass_share=round(sum(first) / len(first), 4) if first else None,
        median_score=round(float(statistics.median(scores)), 2) if scores else None,
        holders=holders,
    )
