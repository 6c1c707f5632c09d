"""The bridge's sense of time, injected so tests travel in time by setting it.

Use cases, the store and the outbox ask their clock for "now" instead of
calling `datetime.now()`: production runs on :class:`SystemClock`, a test
passes a :class:`SettableClock` and moves it forward. The waits Fabman asks
for (a 429's pause, a retry's backoff) are spent through the clock too, so a
test sees each wait asked for without spending it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Timer(Protocol):
    """Measures and spends waits: seconds that only go forward, and ways to wait them out."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """Wait on `condition` (held by the caller) for at most `seconds`; a notify ends it early."""
        ...


class Clock(Timer, Protocol):
    """Anything that tells the current moment (aware, UTC) and spends waits."""

    def now(self) -> dt.datetime:
        """The current moment in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        """The current moment in UTC."""
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        """The machine's monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep the thread."""
        time.sleep(seconds)

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """Wait on the condition for real."""
        condition.wait(seconds)


class SettableClock:
    """A clock a test sets and moves; it stands still in between.

    Its waits are spent at once: each is noted in :attr:`waits` and moves its
    monotonic seconds (not "now") forward, so whoever waited finds the time
    passed.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._moment = _aware(start) if start is not None else dt.datetime.now(dt.UTC)
        self._lock = threading.Lock()
        self._elapsed = 0.0
        self.waits: list[float] = []
        """Every wait asked of this clock, in seconds, in order."""

    def monotonic(self) -> float:
        """The seconds waited and advanced so far."""
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        """Note the wait and let its seconds pass at once."""
        with self._lock:
            self.waits.append(seconds)
            self._elapsed += max(0.0, seconds)

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """As :meth:`sleep`: the caller finds the seconds passed and looks again."""
        self.sleep(seconds)

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
            step = dt.timedelta(**delta)
            self._moment += step
            self._elapsed += max(0.0, step.total_seconds())
            return self._moment


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
