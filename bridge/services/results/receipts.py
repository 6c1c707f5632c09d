"""What handling a result says back, and what applying it found."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from bridge.adapters.fabman import Course, Member, TrainingRecord
from bridge.domain.binding import Refusal


@dataclass(frozen=True)
class Receipt:
    """The answer to the webhook, a replay or one event of the retry job."""

    status: str
    event_id: int | None = None
    outcome: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The response body, without empty fields."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


TOO_EARLY = "too_early"
"""Outcome of a pass started inside the waiting period: held (rejected) until staff replay it."""

NOT_COUNTED = "not_counted"
"""Outcome of a fail started inside the waiting period: applied, but no attempt is counted."""


class Rejected(Exception):
    """The result cannot be applied as it stands (bad token, unknown member or course)."""


class NotCounted(Rejected):
    """The result breaks rule 4.10 (wrong quiz, course no longer online, ...): rejected, and the member is told why."""

    def __init__(self, refusal: Refusal, member: Member, course: Course) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal
        self.member = member
        self.course = course


@dataclass(frozen=True)
class Applied:
    """What applying a result did, for the store and the member's mail."""

    outcome: str
    member: Member
    course: Course
    attempts_left: int
    allowed: int
    record: TrainingRecord | None = None
    until: dt.date | None = None
    opens_at: dt.datetime | None = None
    """When the next attempt opens, while the member waits (section 12)."""
