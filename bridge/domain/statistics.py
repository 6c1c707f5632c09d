"""How each course does, month by month (contract section 18): the nouns and the calendar of the statistics.

The store counts (:meth:`bridge.adapters.store.courses.CourseStore.stats`); these
are the months it counts over and the row it answers with. A result belongs
to the month (in `TIMEZONE`) in which its quiz was finished (when ClassMarker
said so; else when the bridge received it). "Holders" are the members whose
training of the course, as the ledger knows it (passes and renewals the
bridge made), was active at the month's end (today, for the current month).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from bridge.answers import answer, described

MONTHS = 12


@dataclass(frozen=True)
class Month:
    """One calendar month of the statistics: its label, first day and the day its holders are counted on."""

    label: str
    first: dt.date
    end: dt.date


def last_months(today: dt.date, count: int = MONTHS) -> list[Month]:
    """The `count` months up to today's, oldest first; the current month ends today."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        months.append(Month(f"{year:04d}-{month:02d}", dt.date(year, month, 1), min(last, today)))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@answer
class CourseMonth:
    """One course in one month: results received, passes, fails, first-attempt passes, median score, holders."""

    course_id: int = described(2, "Training course id.")
    month: str = described("2026-11", "The month, YYYY-MM (in TIMEZONE).")
    results: int = described(14, "Results received whose quiz finished in the month.")
    passes: int = described(11)
    fails: int = described(3)
    first_attempt_pass_share: float | None = described(
        0.75,
        "Of the members whose first attempt of the course fell in the month, the share that passed it (0 to 1); "
        "null when nobody's first attempt did.",
    )
    median_score: float | None = described(86.5, "Median percentage of the month's results; null without any.")
    holders: int = described(57, "Members holding an active training of the course at the month's end.")
