""" "Today" in the FabLab's time zone, and when a new training ends."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bridge.domain.calendar import add_months, today_in, until_date

PRAGUE = ZoneInfo("Europe/Prague")
UTC = dt.UTC


@pytest.mark.parametrize(
    ("moment", "today"),
    [
        (dt.datetime(2026, 1, 14, 23, 30, tzinfo=UTC), dt.date(2026, 1, 15)),  # winter: UTC+1
        (dt.datetime(2026, 1, 14, 22, 59, tzinfo=UTC), dt.date(2026, 1, 14)),
        (dt.datetime(2026, 1, 14, 23, 0, tzinfo=UTC), dt.date(2026, 1, 15)),
        (dt.datetime(2026, 7, 14, 22, 0, tzinfo=UTC), dt.date(2026, 7, 15)),  # summer: UTC+2
        (dt.datetime(2026, 7, 14, 21, 59, tzinfo=UTC), dt.date(2026, 7, 14)),
        (dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC), dt.date(2027, 1, 1)),
        (dt.datetime(2026, 1, 14, 23, 30), dt.date(2026, 1, 15)),  # naive means UTC
    ],
)
def test_today_is_the_date_in_prague(moment: dt.datetime, today: dt.date) -> None:
    assert today_in(PRAGUE, moment) == today


def test_today_depends_on_the_configured_zone() -> None:
    moment = dt.datetime(2026, 1, 14, 23, 30, tzinfo=UTC)

    assert today_in(ZoneInfo("UTC"), moment) == dt.date(2026, 1, 14)
    assert today_in(ZoneInfo("America/New_York"), moment) == dt.date(2026, 1, 14)
    assert today_in(ZoneInfo("Pacific/Kiritimati"), moment) == dt.date(2026, 1, 15)


def test_today_without_a_moment_is_now() -> None:
    before = dt.datetime.now(UTC).astimezone(PRAGUE).date()
    today = today_in(PRAGUE)
    after = dt.datetime.now(UTC).astimezone(PRAGUE).date()

    assert today in {before, after}


START = dt.date(2026, 1, 31)


@pytest.mark.parametrize(
    ("start", "duration", "unit", "until"),
    [
        (START, 1, "day", dt.date(2026, 2, 1)),
        (START, 30, "day", dt.date(2026, 3, 2)),
        (START, 2, "week", dt.date(2026, 2, 14)),
        (START, 1, "month", dt.date(2026, 2, 28)),  # clamped to February's end
        (dt.date(2028, 1, 31), 1, "month", dt.date(2028, 2, 29)),  # leap year
        (START, 3, "month", dt.date(2026, 4, 30)),
        (START, 11, "month", dt.date(2026, 12, 31)),
        (START, 13, "month", dt.date(2027, 2, 28)),
        (dt.date(2026, 3, 15), 6, "month", dt.date(2026, 9, 15)),
        (dt.date(2028, 2, 29), 1, "year", dt.date(2029, 2, 28)),
        (dt.date(2026, 3, 15), 2, "year", dt.date(2028, 3, 15)),
        (dt.date(2026, 3, 15), 1, "years", dt.date(2027, 3, 15)),
        (dt.date(2026, 3, 15), 1, "Month", dt.date(2026, 4, 15)),
    ],
)
def test_until_date_follows_the_course_duration(start: dt.date, duration: int, unit: str, until: dt.date) -> None:
    assert until_date(start, duration, unit) == until


@pytest.mark.parametrize("unit", ["day", "week", "month", "year"])
def test_a_zero_duration_never_expires(unit: str) -> None:
    assert until_date(START, 0, unit) is None


def test_an_unknown_unit_is_an_error() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        until_date(START, 1, "fortnight")


def test_add_months_goes_back_too() -> None:
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 1, 15), -1) == dt.date(2025, 12, 15)
