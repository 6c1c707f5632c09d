"""The domain's nouns as Fabman stores them: members, training records, training courses.

Each keeps its raw JSON too, because writes must send back fields (metadata)
the bridge does not itself understand, untouched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

PRIVILEGED = frozenset({"admin", "owner"})


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


@dataclass(frozen=True)
class Course:
    """A training course and the bridge's settings in `metadata.courses_cm`."""

    id: int
    title: str
    state: str
    default_duration: int
    default_duration_unit: str
    metadata: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Course:
        """Parse a course; missing or null fields get Fabman's defaults."""
        metadata = data.get("metadata")
        return cls(
            id=int(data["id"]),
            title=str(data.get("title") or ""),
            state=str(data.get("state") or "active"),
            default_duration=int(data.get("defaultDuration") or 0),
            default_duration_unit=str(data.get("defaultDurationUnit") or "day"),
            metadata=metadata if isinstance(metadata, dict) else None,
            raw=data,
        )

    @property
    def courses_cm(self) -> dict[str, Any]:
        """The bridge's own settings for the course (empty when absent)."""
        return _object(_object(self.metadata).get("courses_cm"))


@dataclass(frozen=True)
class TrainingRecord:
    """One training of one member (Fabman's member training)."""

    id: int
    course_id: int
    date: dt.date | None
    from_date: dt.date | None
    until_date: dt.date | None
    notes: str | None
    course: Course | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRecord:
        """Parse a record, with its embedded course when Fabman sent one."""
        embedded = _object(data.get("_embedded")).get("trainingCourse")
        course_ref = data.get("trainingCourse")
        if isinstance(course_ref, dict):
            embedded = embedded or course_ref
            course_ref = course_ref.get("id")
        course = Course.from_json(embedded) if isinstance(embedded, dict) and "id" in embedded else None
        return cls(
            id=int(data["id"]),
            course_id=int(course_ref if course_ref is not None else (course.id if course else 0)),
            date=parse_date(data.get("date")),
            from_date=parse_date(data.get("fromDate")),
            until_date=parse_date(data.get("untilDate")),
            notes=data.get("notes") if isinstance(data.get("notes"), str) else None,
            course=course,
        )


@dataclass(frozen=True)
class Member:
    """A member, with trainings and privileges when they were embedded."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    language: str
    state: str
    metadata: dict[str, Any] | None
    lock_version: int
    trainings: tuple[TrainingRecord, ...] | None = None
    privileges: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Member:
        """Parse a member; `_embedded.trainings`/`privileges` only when requested."""
        embedded = _object(data.get("_embedded"))
        trainings = embedded.get("trainings")
        privileges = _object(embedded.get("privileges")).get("privileges")
        metadata = data.get("metadata")
        return cls(
            id=int(data["id"]),
            first_name=str(data.get("firstName") or ""),
            last_name=str(data.get("lastName") or ""),
            email=data.get("emailAddress") or None,
            language=str(data.get("language") or "cs"),
            state=str(data.get("state") or "active"),
            metadata=metadata if isinstance(metadata, dict) else None,
            lock_version=int(data.get("lockVersion") or 0),
            trainings=tuple(TrainingRecord.from_json(t) for t in trainings) if isinstance(trainings, list) else None,
            privileges=str(privileges) if privileges else None,
        )

    @property
    def is_privileged(self) -> bool:
        """Admins and owners see admin-only courses."""
        return self.privileges in PRIVILEGED

    @property
    def display_name(self) -> str:
        """First and last name for mail greetings."""
        return f"{self.first_name} {self.last_name}".strip()
