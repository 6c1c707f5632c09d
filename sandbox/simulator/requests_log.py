"""What clients asked the simulator and what it answered.

Tests and the benchmark read it (in process, or over GET /_sim/requests) to
count the calls a client made without instrumenting that client.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

from .state import Json


@dataclass(frozen=True)
class LoggedRequest:
    """One API request as the simulator answered it.

    `path` is without the `/api/v1` prefix (e.g. "/members/1/trainings"),
    `query` is the raw query string, `at` the arrival time (time.time()),
    `injected` tells whether a fault shaped the answer. `answered_at` is when
    the answer was ready, latency and work done: the entry is made as the
    answer leaves, so it defaults to that moment. A change is in Fabman from
    then on, which is what the benchmark's time to effect ends on.
    """

    method: str
    path: str
    query: str
    status: int
    at: float
    injected: bool = False
    answered_at: float = field(default_factory=time.time)

    def as_json(self) -> Json:
        """The entry as the control API lists it."""
        return asdict(self)


class RequestLog:
    """Thread-safe, append-only record of API requests (control requests are not logged)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        """Record an answered request."""
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[LoggedRequest]:
        """A copy, in the order the answers were sent."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget everything, e.g. between the phases of a benchmark."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
