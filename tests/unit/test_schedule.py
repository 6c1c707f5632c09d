"""When the bridge's own jobs are due (contract section 10): every N seconds, daily and weekly in the FabLab's time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bridge.config import ConfigError, load_settings
from bridge.domain.schedule import DailyAt, Every, WeeklyAt

PRAGUE = ZoneInfo("Europe/Prague")


def prague(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=PRAGUE).astimezone(dt.UTC)


def test_every_is_due_once_the_interval_has_passed_since_the_last_start() -> None:
    rule = Every(30)
    start = prague(2026, 3, 2, 10, 0, 0)

    assert rule.due(None, start, PRAGUE)
    assert not rule.due(start, start + dt.timedelta(seconds=29), PRAGUE)
    assert rule.due(start, start + dt.timedelta(seconds=30), PRAGUE)
    assert rule.describe() == "every 30 s"


def test_the_daily_sweep_runs_once_from_its_local_time_on() -> None:
    rule = DailyAt(dt.time(3, 15))

    assert rule.due(prague(2026, 3, 1, 3, 15), prague(2026, 3, 2, 3, 15), PRAGUE)
    assert not rule.due(prague(2026, 3, 2, 3, 15, 5), prague(2026, 3, 2, 23, 59), PRAGUE)
    assert rule.due(prague(2026, 3, 2, 3, 15, 5), prague(2026, 3, 3, 3, 15), PRAGUE)
    assert rule.describe() == "daily at 03:15"


def test_a_bridge_down_at_the_slot_catches_up_once_when_it_is_back() -> None:
    rule = DailyAt(dt.time(3, 15))
    last = prague(2026, 3, 1, 3, 15)

    assert rule.due(last, prague(2026, 3, 2, 9, 40), PRAGUE)  # down from 3:00 to 9:40
    assert not rule.due(prague(2026, 3, 2, 9, 40), prague(2026, 3, 2, 9, 41), PRAGUE)


def test_the_daily_slot_is_local_time_across_the_change_to_summer_time() -> None:
    rule = DailyAt(dt.time(3, 15))
    # 29 March 2026: Prague moves from UTC+1 to UTC+2 at 02:00.
    assert rule.latest_slot(prague(2026, 3, 29, 12, 0), PRAGUE) == prague(2026, 3, 29, 3, 15)
    assert rule.latest_slot(prague(2026, 3, 29, 12, 0), PRAGUE).astimezone(dt.UTC).hour == 1


def test_the_weekly_digest_is_due_from_monday_morning_until_it_ran() -> None:
    rule = WeeklyAt(0, dt.time(7, 0))  # 2 March 2026 is a Monday

    assert rule.latest_slot(prague(2026, 3, 2, 6, 59), PRAGUE) == prague(2026, 2, 23, 7, 0)
    assert rule.latest_slot(prague(2026, 3, 2, 7, 0), PRAGUE) == prague(2026, 3, 2, 7, 0)
    assert rule.latest_slot(prague(2026, 3, 5, 18, 0), PRAGUE) == prague(2026, 3, 2, 7, 0)
    assert rule.due(prague(2026, 2, 23, 7, 0, 1), prague(2026, 3, 4, 12, 0), PRAGUE)
    assert not rule.due(prague(2026, 3, 2, 7, 0, 1), prague(2026, 3, 8, 23, 0), PRAGUE)
    assert rule.describe() == "weekly on mon at 07:00"


BASE = {"FABMAN_API_KEY": "k", "FERNET_KEY": "aTTqVzKKzwuDQN0mVwZzg6nCOByJlPWGyfqVHPaKcHk="}


def test_job_settings_default_to_the_contract() -> None:
    settings = load_settings(BASE)

    assert (settings.jobs, settings.retry_every_seconds, settings.sweep_at) == (True, 30, dt.time(3, 15))
    assert (settings.reconcile_minutes, settings.digest_weekday, settings.digest_at) == (15, 0, dt.time(7, 0))


def test_job_settings_are_read_and_off_turns_one_job_off() -> None:
    settings = load_settings(
        {**BASE, "JOBS": "off", "RETRY_EVERY_SECONDS": "5", "SWEEP_AT": "OFF", "DIGEST_WEEKDAY": "fri", "DIGEST_AT": "18:30"}
    )

    assert (settings.jobs, settings.retry_every_seconds, settings.sweep_at) == (False, 5, None)
    assert (settings.digest_weekday, settings.digest_at) == (4, dt.time(18, 30))
    assert load_settings({**BASE, "DIGEST_WEEKDAY": "off"}).digest_weekday is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOBS", "maybe"),
        ("RETRY_EVERY_SECONDS", "0"),
        ("RETRY_EVERY_SECONDS", "soon"),
        ("SWEEP_AT", "25:00"),
        ("SWEEP_AT", "3:15pm"),
        ("DIGEST_WEEKDAY", "monday"),
        ("DIGEST_AT", "off"),
        ("RECONCILE_MINUTES", "-1"),
        ("FABMAN_CONCURRENCY", "0"),
    ],
)
def test_a_bad_job_setting_stops_the_start_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} "):
        load_settings({**BASE, name: value})
