"""The FabLab's calendar: what "today" is and when a new training ends."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo


def today_in(tz: ZoneInfo, now: dt.datetime | None = None) -> dt.date:
    """Today's date in the FabLab's time zone (the one function that decides it)."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).date()


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def until_date(start: dt.date, duration: int, unit: str) -> dt.date | None:
    """End of a training from the course's default duration; None (never expires) for 0."""
    if duration <= 0:
        return None
    unit = unit.lower().rstrip("s")
    if unit == "day":
        return start + dt.timedelta(days=duration)
    if unit == "week":
        return start + dt.timedelta(weeks=duration)
    if unit == "month":
        return add_months(start, duration)
    if unit == "year":
        return add_months(start, 12 * duration)
    raise ValueError(f"unknown duration unit {unit!r}")


def parse_moment(value: Any) -> dt.datetime | None:
    """An ISO 8601 moment from stored or received JSON, in UTC (a naive one is taken as UTC); None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
