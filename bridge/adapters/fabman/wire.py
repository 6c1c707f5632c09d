"""Fabman's JSON read into the domain's plain types: the one place that knows the API's field names.

Reading is lenient where Fabman's format is loose (`metadata` may be null,
a record's course may be an id or an embedded object, missing fields take
Fabman's defaults) and strict where the bridge cannot go on (no `id`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.domain.models import Course, Equipment, Member, TrainingRecord


def parse_date(value: Any) -> dt.date | None:
    """Fabman's `YYYY-MM-DD` (or a longer ISO timestamp) as a date; None when absent."""
    if not value or not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def course_from_json(data: dict[str, Any]) -> Course:
    """A training course; missing or null fields get Fabman's defaults."""
    metadata = data.get("metadata")
    return Course(
        id=int(data["id"]),
        title=str(data.get("title") or ""),
        state=str(data.get("state") or "active"),
        default_duration=int(data.get("defaultDuration") or 0),
        default_duration_unit=str(data.get("defaultDurationUnit") or "day"),
        metadata=metadata if isinstance(metadata, dict) else None,
        resources=_ids(data.get("resources")),
    )


def _ids(value: Any) -> tuple[int, ...]:
    """A list of ids, each a number or an object with an `id` (unreadable items are skipped)."""
    if not isinstance(value, list):
        return ()
    found = []
    for item in value:
        candidate = item.get("id") if isinstance(item, dict) else item
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            found.append(candidate)
        elif isinstance(candidate, str) and candidate.strip().isdigit():
            found.append(int(candidate))
    return tuple(found)


def equipment_from_json(data: dict[str, Any]) -> Equipment:
    """`GET /resources/{id}`: the equipment's id, name and state."""
    name = data.get("name")
    return Equipment(id=int(data["id"]), name=name if isinstance(name, str) else "", state=str(data.get("state") or "active"))


def record_from_json(data: dict[str, Any]) -> TrainingRecord:
    """A member's training record, with its embedded course when Fabman sent one."""
    embedded = _object(data.get("_embedded")).get("trainingCourse")
    course_ref = data.get("trainingCourse")
    if isinstance(course_ref, dict):
        embedded = embedded or course_ref
        course_ref = course_ref.get("id")
    course = course_from_json(embedded) if isinstance(embedded, dict) and "id" in embedded else None
    notes = data.get("notes")
    return TrainingRecord(
        id=int(data["id"]),
        course_id=int(course_ref if course_ref is not None else (course.id if course else 0)),
        date=parse_date(data.get("date")),
        from_date=parse_date(data.get("fromDate")),
        until_date=parse_date(data.get("untilDate")),
        notes=notes if isinstance(notes, str) else None,
        course=course,
    )


def member_from_json(data: dict[str, Any]) -> Member:
    """A member; `_embedded.trainings` and `privileges` are there only when they were asked for."""
    embedded = _object(data.get("_embedded"))
    trainings = embedded.get("trainings")
    privileges = _object(embedded.get("privileges")).get("privileges")
    metadata = data.get("metadata")
    return Member(
        id=int(data["id"]),
        first_name=str(data.get("firstName") or ""),
        last_name=str(data.get("lastName") or ""),
        email=data.get("emailAddress") or None,
        language=str(data.get("language") or "cs"),
        state=str(data.get("state") or "active"),
        metadata=metadata if isinstance(metadata, dict) else None,
        lock_version=int(data.get("lockVersion") or 0),
        trainings=tuple(record_from_json(t) for t in trainings) if isinstance(trainings, list) else None,
        privileges=str(privileges) if privileges else None,
    )
