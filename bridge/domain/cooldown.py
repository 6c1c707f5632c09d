"""The waiting period after a failed attempt (contract section 12).

After a member's n-th failed attempt of a course they wait the n-th value of
the course's schedule (`metadata.courses_cm.cooldown_hours`, else
`COOLDOWN_HOURS`; the last value repeats; 0 means no wait) before the next
attempt. The wait counts from the failed result's `time_finished`, which the
member's `failed_courses` entry keeps as `last_failed_at` (an ISO time in
UTC, beside the keys the FabLab web already reads, which stay as they are)
whenever the course's schedule has a wait at all.

A result *started* inside the waiting period does not count. The period runs
from the last failure's end to when the next attempt opens: a result started
before that failure ended (taken at the same time, or delivered late) is
judged as usual.

Plain rules over plain data: "now" and the times are given.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from bridge.domain import attempts
from bridge.domain.calendar import parse_moment
from bridge.domain.courses import setting
from bridge.domain.models import Course

LAST_FAILED_AT = "last_failed_at"


def schedule(course: Course, default: Sequence[float]) -> tuple[float, ...]:
    """The course's own `cooldown_hours` (a list of numbers, 0 or more), else the bridge-wide list.

    A single number counts as a one-value list; anything else a list of
    numbers is not (text, negative or missing values) falls back to the default.
    """
    value = setting(course, "cooldown_hours")
    if _hours(value):
        return (float(value),)
    if isinstance(value, list) and value and all(_hours(item) for item in value):
        return tuple(float(item) for item in value)
    return tuple(default)


def _hours(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def is_on(hours: Sequence[float]) -> bool:
    """Whether a schedule ever makes a member wait (with waiting off, failures are stored as before: no time)."""
    return any(value > 0 for value in hours)


def wait_after(hours: Sequence[float], failures: int) -> dt.timedelta:
    """The wait after the `failures`-th failed attempt: the n-th value, the last one repeating."""
    if failures <= 0 or not hours:
        return dt.timedelta(0)
    return dt.timedelta(hours=hours[min(failures, len(hours)) - 1])


def last_failed_at(metadata: dict[str, Any] | None, course_id: int) -> dt.datetime | None:
    """When the course's last counted failure finished (None when unknown or unreadable)."""
    latest: dt.datetime | None = None
    for entry in attempts.failed_entries(metadata):
        if _course_of(entry) != course_id:
            continue
        moment = parse_moment(entry.get(LAST_FAILED_AT))
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return latest


def opens_at(metadata: dict[str, Any] | None, course_id: int, hours: Sequence[float]) -> dt.datetime | None:
    """When the member's next attempt of the course opens after the last failure (None: no wait applies)."""
    failed = last_failed_at(metadata, course_id)
    wait = wait_after(hours, attempts.attempts_used(metadata, course_id))
    if failed is None or wait <= dt.timedelta(0):
        return None
    return failed + wait


def waiting_until(
    metadata: dict[str, Any] | None, course_id: int, hours: Sequence[float], now: dt.datetime
) -> dt.datetime | None:
    """The moment the member may try again, while they are still waiting; None once they may."""
    opens = opens_at(metadata, course_id, hours)
    return opens if opens is not None and now < opens else None


def started_too_early(
    metadata: dict[str, Any] | None, course_id: int, hours: Sequence[float], started: dt.datetime | None
) -> dt.datetime | None:
    """When the attempt should have started at the earliest, if it started inside the waiting period.

    None means the result counts: no wait applies, the start is unknown, or it
    falls before the last failure ended or once the next attempt opened.
    """
    failed = last_failed_at(metadata, course_id)
    opens = opens_at(metadata, course_id, hours)
    if started is None or failed is None or opens is None:
        return None
    return opens if failed <= started < opens else None


def with_last_failure(metadata: dict[str, Any], course_id: int, finished: dt.datetime) -> dict[str, Any]:
    """New metadata whose course entry remembers when the latest counted failure finished (the later time wins).

    Meant for metadata that already has the course's entry (after
    :func:`bridge.domain.attempts.with_failed_attempt`); every other key is kept.
    """
    updated = copy.deepcopy(metadata)
    for entry in attempts.failed_entries(updated):
        if _course_of(entry) == course_id:
            known = parse_moment(entry.get(LAST_FAILED_AT))
            latest = finished if known is None or finished > known else known
            entry[LAST_FAILED_AT] = latest.astimezone(dt.UTC).isoformat(timespec="seconds")
            break
    return updated


def _course_of(entry: dict[str, Any]) -> int | None:
    try:
        return int(entry.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
