"""What handling a result says back, and what applying it found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bridge.adapters.fabman import Course, Member, TrainingRecord
from bridge.answers import answer, described
from bridge.domain.binding import Refusal
from bridge.domain.statuses import EventStatus, HoldReason, Outcome, ReceiptStatus, RejectReason


@answer
class WebhookReceipt:
    """ClassMarker's answer (and a replay's): what became of the delivery. Empty fields are left out."""

    status: ReceiptStatus | EventStatus = described(ReceiptStatus.ACCEPTED, "An event's status, or one of the receipt's own.")
    event_id: int | None = described(12, omit_none=True, default=None)
    outcome: Outcome | HoldReason | RejectReason | None = described(
        None, "After a replay: what applying did.", omit_none=True, default=None
    )
    detail: str | None = described("stored; being applied now", omit_none=True, default=None)


Receipt = WebhookReceipt
"""The answer to the webhook, a replay, a review or one event of the retry job."""


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

    outcome: Outcome
    member: Member
    course: Course
    attempts_left: int
    allowed: int
    record: TrainingRecord | None = None
    until: dt.date | None = None
    opens_at: dt.datetime | None = None
    """When the next attempt opens, while the member waits (section 12)."""
    missing: tuple[int, ...] = ()
    """Required courses the member did not hold (section 15)."""


@dataclass(frozen=True)
class Held:
    """A pass that grants nothing yet (held until staff replay it): why, and what the member is told."""

    reason: HoldReason
    member: Member
    course: Course
    opens_at: dt.datetime | None = None
    """When the waiting period ends (too_early)."""
    missing: tuple[int, ...] = ()
    """The required courses the member did not hold (missing_requirement)."""
