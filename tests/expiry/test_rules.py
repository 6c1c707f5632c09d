"""The expiry rules on plain records: the boundaries of "expired" and "due a reminder"."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.domain.expiry import (
    expired_records,
    expires_within,
    expiry_mail_key,
    is_expired,
    is_superseded,
    reminder_mail_key,
    reminder_records,
)
from bridge.domain.models import TrainingRecord

TODAY = dt.date(2026, 3, 2)


def record(record_id: int, until: int | None, course_id: int = 1) -> TrainingRecord:
    """A record ending `until` days from TODAY (None: never)."""
    return TrainingRecord(
        id=record_id,
        course_id=course_id,
        date=TODAY - dt.timedelta(days=365),
        from_date=None,
        until_date=None if until is None else TODAY + dt.timedelta(days=until),
        notes=None,
    )


@pytest.mark.parametrize(("until", "expired"), [(-400, True), (-1, True), (0, True), (1, False), (None, False)])
def test_a_record_expires_on_its_until_date_and_null_never(until: int | None, expired: bool) -> None:
    assert is_expired(record(1, until), TODAY) is expired


@pytest.mark.parametrize(
    ("until", "days", "due"),
    [(0, 14, False), (1, 14, True), (14, 14, True), (15, 14, False), (None, 14, False), (1, 0, False), (-3, 14, False)],
)
def test_a_reminder_is_due_within_reminder_days_before_expiry(until: int | None, days: int, due: bool) -> None:
    assert expires_within(record(1, until), TODAY, days) is due


def test_a_renewed_training_is_not_reminded() -> None:
    old, renewed, forever, other_course = record(1, 5), record(2, 300), record(3, None, course_id=2), record(4, 6, course_id=2)
    assert is_superseded(old, [old, renewed])
    assert not is_superseded(renewed, [old, renewed])
    assert is_superseded(other_course, [other_course, forever])
    assert reminder_records([old, renewed, other_course, forever], TODAY, 14) == []
    assert reminder_records([old, other_course], TODAY, 14) == [old, other_course]


def test_expired_records_are_every_course_and_only_expired_ones() -> None:
    held = [record(1, -1), record(2, 0, course_id=7), record(3, 1), record(4, None)]
    assert [r.id for r in expired_records(held, TODAY)] == [1, 2]


def test_mail_keys_name_the_record_and_for_reminders_its_date() -> None:
    assert expiry_mail_key(5, 17) == "expiry:5:17"
    assert reminder_mail_key(5, 17, dt.date(2026, 3, 9)) == "reminder:5:17:2026-03-09"
    assert reminder_mail_key(5, 17, dt.date(2026, 3, 9)) != reminder_mail_key(5, 17, dt.date(2027, 3, 9))
