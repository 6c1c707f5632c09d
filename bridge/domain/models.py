"""The domain's nouns: members, training records, training courses, as plain data.

They know nothing of Fabman's JSON: :mod:`bridge.adapters.fabman.wire` reads
the API's format into them. A member's `metadata` is kept whole, because
writes must send back keys the bridge does not itself understand, untouched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

PRIVILEGED = frozenset({"admin", "owner"})
FABMAN_ID_LIMIT = 2**53
"""Fabman's ids (members, courses, equipment, webhook events) are positive and below 2^53; anything else is not an id."""
MAX_ID = 2**31 - 1
"""The largest member, course or event id a caller may give the bridge (a path, a query, a body, a command).

A positive 32-bit signed integer: the range the OpenAPI declares for every id
and the one the inbox's event ids are numbered in.
"""


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
    resources: tuple[int, ...] = ()
    """Ids of the equipment the course unlocks (Fabman's `resources`)."""

    @property
    def courses_cm(self) -> dict[str, Any]:
        """The bridge's own settings for the course (empty when absent)."""
        return _object(_object(self.metadata).get("courses_cm"))


@dataclass(frozen=True)
class Equipment:
    """A machine in Fabman (a `resource`): its name in mail comes from here, never from a webhook's body."""

    id: int
    name: str
    state: str


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

    @property
    def is_privileged(self) -> bool:
        """Admins and owners see admin-only courses."""
        return self.privileges in PRIVILEGED

    @property
    def display_name(self) -> str:
        """First and last name for mail greetings."""
        return f"{self.first_name} {self.last_name}".strip()
