"""When a job is due: every N seconds, daily at a local time, or weekly on a day at a local time.

Each rule looks only at when the job last started, so a bridge that was down
at the scheduled moment catches up once when it comes back, and a job that
ran at its slot on another instance is not run again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Every:
    """Due when the last run started at least `seconds` ago."""

    seconds: float

    def due(self, last_started: dt.datetime | None, now: dt.datetime, tz: ZoneInfo) -> bool:
        """Whether a run should start now."""
        return last_started is None or (now - last_started).total_seconds() >= self.seconds

    def describe(self) -> str:
        """The rule in words, for staff."""
        return f"every {self.seconds:g} s"


@dataclass(frozen=True)
class DailyAt:
    """Due once a day, from `at` (local time in the FabLab's zone) on."""

    at: dt.time

    def latest_slot(self, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """The most recent moment the job was scheduled for, at or before now."""
        local = now.astimezone(tz)
        slot = dt.datetime.combine(local.date(), self.at, tzinfo=tz)
        if slot > local:
            slot = dt.datetime.combine(local.date() - dt.timedelta(days=1), self.at, tzinfo=tz)
        return slot

    def due(self, last_started: dt.datetime | None, now: dt.datetime, tz: ZoneInfo) -> bool:
        """Whether a run should start now: none since the latest slot."""
        return last_started is None or last_started < self.latest_slot(now, tz)

    def describe(self) -> str:
        """The rule in words, for staff."""
        return f"daily at {self.at:%H:%M}"


@dataclass(frozen=True)
class WeeklyAt:
    """Due once a week, from `weekday` (0 = Monday) at `at` (local time) on."""

    weekday: int
    at: dt.time

    def latest_slot(self, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """The most recent moment the job was scheduled for, at or before now."""
        local = now.astimezone(tz)
        day = local.date() - dt.timedelta(days=(local.weekday() - self.weekday) % 7)
        slot = dt.datetime.combine(day, self.at, tzinfo=tz)
        if slot > local:
            slot = dt.datetime.combine(day - dt.timedelta(days=7), self.at, tzinfo=tz)
        return slot

    def due(self, last_started: dt.datetime | None, now: dt.datetime, tz: ZoneInfo) -> bool:
        """Whether a run should start now: none since the latest slot."""
        return last_started is None or last_started < self.latest_slot(now, tz)

    def describe(self) -> str:
        """The rule in words, for staff."""
        return f"weekly on {WEEKDAYS[self.weekday]} at {self.at:%H:%M}"


Schedule = Every | DailyAt | WeeklyAt
