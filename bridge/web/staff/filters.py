"""The console's filters read from a query string, strictly: a wrong value names its field, never a 500.

The evidence filter is shared with `GET /admin/evidence`, so the page, the
JSON and the CSV always select the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from bridge.domain.models import MAX_ID
from bridge.domain.statuses import EventStatus, MessageStatus
from bridge.errors import ValidationFailed
from bridge.services.console.filters import EvidenceFilter, Period, ResultFilter

MAX_PAGE = 100_000


def optional_id(args: Mapping[str, str], name: str) -> int | None:
    """A positive id, or None when the field is empty."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID):
        raise ValidationFailed(f"{name} must be a positive integer", field=name)
    return int(raw)


def optional_date(args: Mapping[str, str], name: str) -> dt.date | None:
    """A YYYY-MM-DD date, or None when the field is empty."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) == 10:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValidationFailed(f"{name} must be a date as YYYY-MM-DD", field=name)


def bounded_int(args: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """An integer within [low, high]; the default when empty."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise ValidationFailed(f"{name} must be an integer from {low} to {high}", field=name)
    return int(raw)


def page_number(args: Mapping[str, str]) -> int:
    """Which page of a list (1 when absent)."""
    return bounded_int(args, "page", default=1, low=1, high=MAX_PAGE)


def period(args: Mapping[str, str]) -> Period:
    """`from` and `to` dates, both included (`from` after `to` selects nothing)."""
    return Period(optional_date(args, "from"), optional_date(args, "to"))


def result_filter(args: Mapping[str, str]) -> ResultFilter:
    """Status, member, course and dates of the result list."""
    status = (args.get("status") or "").strip()
    if status and status not in set(EventStatus):
        raise ValidationFailed(f"status must be one of {', '.join(EventStatus)}", field="status")
    return ResultFilter(
        status=EventStatus(status) if status else None,
        member_id=optional_id(args, "member"),
        course_id=optional_id(args, "course"),
        period=period(args),
    )


def evidence_filter(args: Mapping[str, str]) -> EvidenceFilter:
    """Member, course and dates of the evidence search (`member_id`/`course_id` are accepted as well)."""
    return EvidenceFilter(
        member_id=optional_id(args, "member") or optional_id(args, "member_id"),
        course_id=optional_id(args, "course") or optional_id(args, "course_id"),
        period=period(args),
    )


def message_status(args: Mapping[str, str]) -> MessageStatus | None:
    """The mail list's status filter."""
    status = (args.get("status") or "").strip()
    if status and status not in set(MessageStatus):
        raise ValidationFailed(f"status must be one of {', '.join(MessageStatus)}", field="status")
    return MessageStatus(status) if status else None
