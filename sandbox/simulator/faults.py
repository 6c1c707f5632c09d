"""How the Fabman simulator misbehaves, on purpose and replayably.

`FaultConfig` decides per request whether to misbehave (latency, 503, 429,
409, hangs), drawing from a seeded RNG so that a reliability run can be
replayed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

from .state import Json


@dataclass
class FailRule:
    """The next `remaining` requests matching method and path answer `status`.

    With `after_apply` the request is carried out first and only its answer is
    replaced: a write Fabman made whose response the client never saw, as when
    a connection drops after the commit.
    """

    remaining: int
    status: int
    method: str | None = None
    path_contains: str | None = None
    after_apply: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether a request (path without /api/v1) is one this rule targets."""
        return (self.method is None or self.method == method) and (self.path_contains is None or self.path_contains in path)


@dataclass(frozen=True)
class Injection:
    """A fault answer in place of the real one; `retry_after` only accompanies a 429."""

    status: int
    retry_after: float | None = None


def _number(name: str, value: object, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}")
    return float(value)


def _optional_number(name: str, value: object) -> float | None:
    return None if value is None else _number(name, value)


def _rate_limit(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be null or an integer >= 1")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


_FAULT_FIELDS = {
    "latency_ms": _number,
    "error_rate": lambda name, value: _number(name, value, upper=1),
    "rate_limit_per_second": _rate_limit,
    "retry_after": _optional_number,
    "conflict_rate": lambda name, value: _number(name, value, upper=1),
    "hang_seconds": _number,
    "down": _flag,
}


class FaultConfig:
    """How the simulator misbehaves; change it at any time, from any thread.

    In process, assign the attributes or call `update()` (which validates);
    over HTTP, PUT /_sim/faults. Fields: `latency_ms` added to every API
    request, `error_rate` chance of a 503, `rate_limit_per_second` (None =
    off) beyond which requests get 429 with `Retry-After: retry_after` when
    that is not None, `conflict_rate` chance that a member PUT gets 409,
    `hang_seconds` stall before answering, `down` (every request 503).
    Precedence: down, then fail_next rules, then the rate limit, then
    error_rate. `faults_injected` counts every injected fault and survives
    `reset()`, so a run can total what it went through.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - simulated faults need replayability, not secrecy
        self._recent: deque[float] = deque()
        self._rules: list[FailRule] = []
        self._released = threading.Event()
        self.faults_injected = 0
        self.latency_ms = 0.0
        self.error_rate = 0.0
        self.rate_limit_per_second: int | None = None
        self.retry_after: float | None = None
        self.conflict_rate = 0.0
        self.hang_seconds = 0.0
        self.down = False

    def update(self, **changes: object) -> None:
        """Change some fields at once; `seed` reseeds the RNG. Raises ValueError, changing nothing."""
        seed = changes.pop("seed", None)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        unknown = sorted(set(changes) - set(_FAULT_FIELDS))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        validated = {name: _FAULT_FIELDS[name](name, value) for name, value in changes.items()}
        with self._lock:
            for name, value in validated.items():
                setattr(self, name, value)
            if seed is not None:
                self._seed = seed
                self._rng.seed(seed)

    def fail_next(
        self,
        count: int,
        status: int,
        method: str | None = None,
        path_contains: str | None = None,
        *,
        after_apply: bool = False,
    ) -> None:
        """Make the next `count` matching API requests answer `status` (path without /api/v1).

        With `after_apply` the requests are carried out first and only the
        answers of successful ones are replaced by `status`.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if not isinstance(after_apply, bool):
            raise ValueError("after_apply must be true or false")
        with self._lock:
            self._rules.append(FailRule(count, status, method.upper() if method else None, path_contains, after_apply))

    def reset(self) -> None:
        """Back to a well-behaved Fabman: no faults, no pending rules, RNG reseeded."""
        with self._lock:
            self._rules.clear()
            self._recent.clear()
            self._rng.seed(self._seed)
            self.latency_ms = 0.0
            self.error_rate = 0.0
            self.rate_limit_per_second = None
            self.retry_after = None
            self.conflict_rate = 0.0
            self.hang_seconds = 0.0
            self.down = False

    def snapshot(self) -> Json:
        """The current settings, pending fail_next rules and the injected-fault count."""
        with self._lock:
            settings: Json = {name: getattr(self, name) for name in _FAULT_FIELDS}
            settings.update(
                seed=self._seed,
                fail_next=[asdict(rule) for rule in self._rules],
                faults_injected=self.faults_injected,
            )
            return settings

    def pause(self) -> bool:
        """Sleep the latency and any hang; True when a hang was injected. Stopping the server cuts it short."""
        hang = self.hang_seconds
        delay = self.latency_ms / 1000 + hang
        if hang > 0:
            with self._lock:
                self.faults_injected += 1
        if delay > 0:
            self._released.wait(delay)
        return hang > 0

    def decide(self, method: str, path: str) -> Injection | None:
        """The fault this API request gets instead of its real answer, if any."""
        with self._lock:
            status = self._injected_status(method, path)
            if status is None:
                return None
            self.faults_injected += 1
            return Injection(status, self.retry_after if status == 429 else None)

    def decide_after_apply(self, method: str, path: str) -> Injection | None:
        """The answer replacing a successful request's real one (an `after_apply` rule), if any."""
        with self._lock:
            for rule in self._rules:
                if rule.after_apply and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    self.faults_injected += 1
                    return Injection(rule.status)
            return None

    def roll_conflict(self) -> bool:
        """Whether this member PUT gets a 409 whatever its lockVersion."""
        with self._lock:
            if self.conflict_rate and self._rng.random() < self.conflict_rate:
                self.faults_injected += 1
                return True
            return False

    def release_waiters(self) -> None:
        """End every pause now and for good: the server is shutting down."""
        self._released.set()

    def _injected_status(self, method: str, path: str) -> int | None:
        if self.down:
            return 503
        for rule in self._rules:
            if not rule.after_apply and rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule.status
        if self.rate_limit_per_second is not None:
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit_per_second:
                return 429
            self._recent.append(now)
        if self.error_rate and self._rng.random() < self.error_rate:
            return 503
        return None
