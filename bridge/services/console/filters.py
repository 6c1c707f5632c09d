"""What the console's lists are filtered by, and the page of a list that is shown."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bridge.domain.statuses import EventStatus
from bridge.services.deps import Deps

T = TypeVar("T")

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and where it stands in the whole."""

    rows: list[T]
    total: int
    number: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, even when empty)."""
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class Period:
    """Local dates, both ends included, as the FabLab's calendar counts them."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def bounds(self, deps: Deps) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The UTC moments [from, before) the dates cover in TIMEZONE."""
        open_ended = self.date_to is None or self.date_to >= dt.date.max - dt.timedelta(days=1)
        return (
            start_of(self.date_from, deps) if self.date_from else None,
            None if open_ended or self.date_to is None else start_of(self.date_to + dt.timedelta(days=1), deps),
        )


@dataclass(frozen=True)
class ResultFilter:
    """Which results the list shows."""

    status: EventStatus | None = None
    member_id: int | None = None
    course_id: int | None = None
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class EvidenceFilter:
    """Which ledger rows the evidence search returns."""

    member_id: int | None = None
    course_id: int | None = None
    period: Period = field(default_factory=Period)


def start_of(day: dt.date, deps: Deps) -> dt.datetime:
    """Midnight of a local date, in UTC (dates at the calendar's very ends are moved a day in)."""
    inside = min(max(day, dt.date.min + dt.timedelta(days=1)), dt.date.max - dt.timedelta(days=1))
    return dt.datetime.combine(inside, dt.time(0), tzinfo=deps.settings.tz).astimezone(dt.UTC)
