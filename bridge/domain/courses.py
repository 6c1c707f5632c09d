"""Which courses exist online, who may see them, and how many attempts they allow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bridge.domain.models import Course, Member, TrainingRecord


def setting(course: Course, key: str) -> Any:
    """One key of the course's `metadata.courses_cm` (None when absent)."""
    return course.courses_cm.get(key)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def is_online(course: Course) -> bool:
    """Online: active, has a ClassMarker quiz URL, and is not presence-only."""
    return (
        course.state == "active"
        and isinstance(setting(course, "cm_url"), str)
        and bool(setting(course, "cm_url").strip())
        and not _flag(setting(course, "not_online"))
    )


def quiz_key(course: Course) -> str | None:
    """The `quiz` query parameter of the course's `cm_url` (None when there is none, or more than one).

    It is the key ClassMarker reports back as the result's `link.link_url_id`,
    so it ties a result to the one course whose quiz it is (contract 4.10).
    """
    cm_url = setting(course, "cm_url")
    if not isinstance(cm_url, str):
        return None
    try:
        values = parse_qs(urlsplit(cm_url.strip()).query).get("quiz", [])
    except ValueError:
        return None
    if len(values) != 1:
        return None
    return values[0].strip() or None


def is_admin_only(course: Course) -> bool:
    """Admin-only courses are shown to admins and owners alone."""
    return _flag(setting(course, "admin_only"))


def visible_to(course: Course, member: Member) -> bool:
    """Whether the member may see (and take) the course at all."""
    return not is_admin_only(course) or member.is_privileged


def max_attempts(course: Course, default: int) -> int:
    """The course's own `max_attempts`, or the bridge-wide default."""
    value = setting(course, "max_attempts")
    if isinstance(value, bool):
        return default
    try:
        return int(value) if value is not None and int(value) >= 0 else default
    except (TypeError, ValueError):
        return default


def display_names(course: Course) -> tuple[str, str]:
    """Czech and English names, falling back to the course title."""
    cs = setting(course, "cs_name")
    en = setting(course, "en_name")
    return (cs if isinstance(cs, str) and cs else course.title, en if isinstance(en, str) and en else course.title)


def is_active(record: TrainingRecord, today: dt.date) -> bool:
    """A training is active when it never expires or ends after today."""
    return record.until_date is None or record.until_date > today


def latest_per_course(records: Iterable[TrainingRecord]) -> dict[int, TrainingRecord]:
    """The newest record of each course (by date, then id)."""
    latest: dict[int, TrainingRecord] = {}
    for record in records:
        current = latest.get(record.course_id)
        if current is None or _age_key(record) > _age_key(current):
            latest[record.course_id] = record
    return latest


def _age_key(record: TrainingRecord) -> tuple[dt.date, int]:
    return (record.date or record.from_date or dt.date.min, record.id)


def active_course_ids(records: Iterable[TrainingRecord], today: dt.date) -> set[int]:
    """Courses the member holds an active training for."""
    return {r.course_id for r in records if is_active(r, today)}
