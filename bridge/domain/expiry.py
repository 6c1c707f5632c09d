"""When a training record expires and when its member is reminded.

Plain rules over plain data: "today" is given (the FabLab's date, computed once
by :func:`bridge.domain.calendar.today_in`), so the sweep, the endpoint and the
tests agree on every boundary. A record whose `untilDate` is today is expired
(contract section 2: active means later than today); `null` never expires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from bridge.domain.models import TrainingRecord


def is_expired(record: TrainingRecord, today: dt.date) -> bool:
    """Expired: an `untilDate` that is not later than today."""
    return record.until_date is not None and record.until_date <= today


def expires_within(record: TrainingRecord, today: dt.date, days: int) -> bool:
    """Still active, but ends within `days` days (0 days: never true, reminders are off)."""
    if days <= 0 or record.until_date is None:
        return False
    return today < record.until_date <= today + dt.timedelta(days=days)


def is_superseded(record: TrainingRecord, records: Iterable[TrainingRecord]) -> bool:
    """Another record of the same course lasts longer (or forever): the member already renewed."""
    if record.until_date is None:
        return False
    return any(
        other.id != record.id
        and other.course_id == record.course_id
        and (other.until_date is None or other.until_date > record.until_date)
        for other in records
    )


def expired_records(records: Iterable[TrainingRecord], today: dt.date) -> list[TrainingRecord]:
    """Every expired record, whatever its course (presence-only ones included)."""
    return [record for record in records if is_expired(record, today)]


def reminder_records(records: Iterable[TrainingRecord], today: dt.date, days: int) -> list[TrainingRecord]:
    """Records ending within `days` days that the member has not renewed yet.

    Whether the course is online is for the caller to decide (it knows the
    courses); this rule only looks at dates.
    """
    held = list(records)
    return [record for record in held if expires_within(record, today, days) and not is_superseded(record, held)]


def expiry_mail_key(member_id: int, record_id: int) -> str:
    """Outbox key of the expiry mail: one per training record, shared by the sweep and the endpoint."""
    return f"expiry:{member_id}:{record_id}"


def reminder_mail_key(member_id: int, record_id: int, until: dt.date) -> str:
    """Outbox key of a per-record reminder as sent before combined reminders (:mod:`bridge.domain.reminders`).

    New reminders are not queued under it; the sweep reads it so a record
    reminded that way is not reminded again.
    """
    return f"reminder:{member_id}:{record_id}:{until.isoformat()}"
