"""How each course does (contract section 18): the table, its CSV, and the course names to show with it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from bridge.adapters.fabman import FabmanError
from bridge.domain import courses
from bridge.domain.statistics import CourseMonth, last_months
from bridge.services.deps import Deps

CSV_COLUMNS = (
    "course_id",
    "course",
    "month",
    "results",
    "passes",
    "fails",
    "first_attempt_pass_share",
    "median_score",
    "holders",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def course_stats(deps: Deps) -> list[CourseMonth]:
    """Per course and month over the last 12 months (the current one included), from the store."""
    return deps.store.courses.stats(last_months(deps.today()), deps.settings.tz)


def course_names(deps: Deps) -> dict[int, tuple[str, str]]:
    """Czech and English names of every course Fabman has (empty when Fabman cannot be asked now)."""
    try:
        known = deps.fabman.courses()
    except FabmanError:
        return {}
    return {course_id: courses.display_names(course) for course_id, course in known.items()}


def stats_csv(rows: Iterable[CourseMonth], names: dict[int, tuple[str, str]]) -> str:
    """The table as CSV (UTF-8, a header row); a course name that could start a formula is quoted with `'`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        title = names.get(row.course_id, ("", ""))[0]
        writer.writerow(
            [
                row.course_id,
                f"'{title}" if title.startswith(_FORMULA_STARTS) else title,
                row.month,
                row.results,
                row.passes,
                row.fails,
                "" if row.first_attempt_pass_share is None else row.first_attempt_pass_share,
                "" if row.median_score is None else row.median_score,
                row.holders,
            ]
        )
    return buffer.getvalue()
