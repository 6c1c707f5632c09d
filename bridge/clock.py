"""The bridge's sense of time, injected so tests travel in time by setting it.

Use cases, the store and the outbox ask their clock for "now" instead of
calling `datetime.now()`: production runs on :class:`SystemClock`, a test
passes a :class:`SettableClock` and moves it forward.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current moment (aware, UTC)."""

    def now(self) -> dt.datetime:
        """The current moment in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        """The current moment in UTC."""
        return dt.datetime.now(dt.UTC)


class SettableClock:
    """A clock a test sets and moves; it stands still in between."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._moment = _aware(start) if start is not None else dt.datetime.now(dt.UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """The moment the clock was last set to."""
        with self._lock:
            return self._moment

    def set(self, moment: dt.datetime) -> None:
        """Jump to a moment (naive values are taken as UTC)."""
        with self._lock:
            self._moment = _aware(moment)

    def advance(self, **delta: float) -> dt.datetime:
        """Move forward by a timedelta's keyword arguments (`hours=49`); the new moment."""
        with self._lock:
            self._moment += dt.timedelta(**delta)
            return self._moment


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
