"""What the Fabman simulator remembers: the data, the faults, the request log.

`SimState` keeps members, training courses, training records and privileges
in memory behind one lock, so concurrent request threads always see a change
whole, as they would rows behind a database transaction. Every read returns a
copy: a test holding a member dict never sees it change underneath it, and no
caller can corrupt the store by mutating what it got.

`FaultConfig` decides per request whether to misbehave (latency, 503, 429,
409, hangs), drawing from a seeded RNG so that a reliability run can be
replayed. `RequestLog` records what clients asked and what they got.
"""

from __future__ import annotations

import calendar
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

Json = dict[str, Any]

ACCOUNT_ID = 1
# createdAt/updatedAt of data added through the helpers: seeded data predates
# every test, and a fixed value keeps seeded states identical run to run.
SEEDED_AT = "2024-01-01T08:00:00.000Z"
PRIVILEGE_LEVELS = frozenset({"member", "admin", "owner"})
DURATION_UNITS = frozenset({"day", "week", "month", "year"})

# In the order Fabman lists them.
_MEMBER_TEXT_FIELDS = (
    "memberNumber",
    "firstName",
    "lastName",
    "gender",
    "dateOfBirth",
    "emailAddress",
    "company",
    "phone",
    "address",
    "address2",
    "city",
    "zip",
    "countryCode",
    "region",
    "notes",
    "language",
    "state",
)
MEMBER_WRITABLE_FIELDS = frozenset({*_MEMBER_TEXT_FIELDS, "metadata"})
MEMBER_SEARCH_FIELDS = ("firstName", "lastName", "emailAddress")
MEMBER_SORT_FIELDS = frozenset(
    {"id", "memberNumber", "firstName", "lastName", "emailAddress", "language", "state", "createdAt", "updatedAt"}
)
COURSE_SEARCH_FIELDS = ("title",)
COURSE_SORT_FIELDS = frozenset({"id", "title", "state", "defaultDuration", "createdAt", "updatedAt"})
TRAINING_SORT_FIELDS = frozenset({"id", "trainingCourse", "date", "fromDate", "untilDate", "createdAt", "updatedAt"})


class UnknownRecordError(LookupError):
    """An id the state does not hold; `kind` tells the API whether that is a 404 or a 400."""

    def __init__(self, kind: str, record_id: object) -> None:
        super().__init__(f"unknown {kind} {record_id!r}")
        self.kind = kind


class StaleLockVersionError(Exception):
    """A member update based on an outdated (or missing) lockVersion: Fabman answers 409."""


class InvalidRequestError(ValueError):
    """Input Fabman would reject with 400."""


def utc_timestamp(moment: datetime | None = None) -> str:
    """Fabman's timestamp format: UTC, milliseconds, trailing Z."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def add_duration(start: date, amount: int, unit: str) -> date:
    """The date `amount` units after `start`; month ends clamp (31 Jan + 1 month = end of Feb)."""
    if unit == "day":
        return start + timedelta(days=amount)
    if unit == "week":
        return start + timedelta(weeks=amount)
    if unit not in DURATION_UNITS:
        raise ValueError(f"unknown duration unit {unit!r}")
    months = amount * 12 if unit == "year" else amount
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _clone(value: Any) -> Any:
    """Copy a JSON value; much faster than deepcopy on the hot listing path."""
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _sort_key(value: Any) -> tuple[bool, Any]:
    """Nulls last (first when descending) without comparing None to a value."""
    return (value is None, 0 if value is None else value)


def _select(
    records: Iterable[Json],
    *,
    q: str | None,
    search_fields: tuple[str, ...],
    order_by: str,
    descending: bool,
    sort_fields: frozenset[str],
) -> list[Json]:
    """Filter by Fabman's `q` text search and sort by `orderBy`; id ascending is the stored order."""
    if order_by not in sort_fields:
        raise InvalidRequestError(f"cannot order by {order_by!r}")
    rows = list(records)
    if q:
        needle = q.casefold()
        rows = [row for row in rows if needle in " ".join(str(row.get(f) or "") for f in search_fields).casefold()]
    if order_by != "id" or descending:
        rows.sort(key=lambda row: _sort_key(row.get(order_by)), reverse=descending)
    return rows


class SimState:
    """Thread-safe in-memory Fabman account.

    `max_limit` clamps the `limit` of list requests (Fabman's real maximum is
    unknown). `fill_until_date` makes a created training record without an
    `untilDate` get one from the course's default duration; whether Fabman
    does that is unknown, so it is off unless a test asks for it.
    """

    def __init__(self, *, max_limit: int = 1000, fill_until_date: bool = False) -> None:
        self.max_limit = max_limit
        self.fill_until_date = fill_until_date
        self._lock = threading.RLock()
        self._members: dict[int, Json] = {}
        self._privileges: dict[int, str] = {}
        self._courses: dict[int, Json] = {}
        self._trainings: dict[int, Json] = {}
        self._member_trainings: dict[int, list[int]] = {}
        self._member_ids = itertools.count(1)
        self._course_ids = itertools.count(1)
        self._training_ids = itertools.count(1)

    # -- writing ---------------------------------------------------------

    def add_course(
        self,
        title: str,
        *,
        metadata: Json | None = None,
        state: str = "active",
        default_duration: int = 0,
        default_duration_unit: str = "year",
        notes: str | None = None,
    ) -> Json:
        """Create a training course as staff would in Fabman's admin."""
        if default_duration_unit not in DURATION_UNITS:
            raise ValueError(f"unknown duration unit {default_duration_unit!r}")
        with self._lock:
            course = {
                "id": next(self._course_ids),
                "account": ACCOUNT_ID,
                "title": title,
                "notes": notes,
                "state": state,
                "defaultDuration": default_duration,
                "defaultDurationUnit": default_duration_unit,
                "metadata": _clone(metadata),
                "lockVersion": 1,
                "createdAt": SEEDED_AT,
                "updatedAt": SEEDED_AT,
            }
            self._courses[course["id"]] = course
            return _clone(course)

    def add_member(
        self,
        first_name: str,
        last_name: str,
        email: str,
        *,
        language: str = "cs",
        privileges: str = "member",
        metadata: Json | None = None,
        state: str = "active",
    ) -> Json:
        """Create a member; `metadata` stays null unless given, as in Fabman."""
        if privileges not in PRIVILEGE_LEVELS:
            raise ValueError(f"unknown privileges {privileges!r}")
        with self._lock:
            member_id = next(self._member_ids)
            member: Json = {"id": member_id, "account": ACCOUNT_ID, **dict.fromkeys(_MEMBER_TEXT_FIELDS)}
            member.update(
                firstName=first_name,
                lastName=last_name,
                emailAddress=email,
                language=language,
                state=state,
                metadata=_clone(metadata),
                lockVersion=1,
                createdAt=SEEDED_AT,
                updatedAt=SEEDED_AT,
                updatedBy=None,
            )
            self._members[member_id] = member
            self._privileges[member_id] = privileges
            self._member_trainings[member_id] = []
            return _clone(member)

    def add_training(
        self,
        member_id: int,
        course_id: int,
        date: str,
        until_date: str | None = None,
        notes: str | None = None,
        *,
        from_date: str | None = None,
        created_at: str | None = None,
    ) -> Json:
        """Record that a member completed a course; dates are "YYYY-MM-DD".

        Without `created_at` the record counts as created on its `date`, as
        history entered before the test began would be.
        """
        with self._lock:
            self._require(self._members, "member", member_id)
            self._require(self._courses, "training course", course_id)
            timestamp = created_at or f"{date}T09:00:00.000Z"
            record = {
                "id": next(self._training_ids),
                "trainingCourse": course_id,
                "date": date,
                "fromDate": from_date or date,
                "untilDate": until_date,
                "notes": notes,
                "lockVersion": 1,
                "createdAt": timestamp,
                "updatedAt": timestamp,
            }
            self._trainings[record["id"]] = record
            self._member_trainings[member_id].append(record["id"])
            return _clone(record)

    def update_member(self, member_id: int, changes: Mapping[str, Any], lock_version: object) -> Json:
        """Apply a PUT: writable fields change, the rest is ignored, lockVersion goes up by one."""
        with self._lock:
            member = self._require(self._members, "member", member_id)
            if type(lock_version) is not int or lock_version != member["lockVersion"]:
                raise StaleLockVersionError(f"member {member_id} is at lockVersion {member['lockVersion']}")
            accepted = {field: value for field, value in changes.items() if field in MEMBER_WRITABLE_FIELDS}
            for field, value in accepted.items():
                allowed: type | tuple[type, ...] = dict if field == "metadata" else str
                if value is not None and not isinstance(value, allowed):
                    raise InvalidRequestError(f"{field} has the wrong type")
            member.update(_clone(accepted))
            member["lockVersion"] += 1
            member["updatedAt"] = utc_timestamp()
            return _clone(member)

    def set_privileges(self, member_id: int, privileges: str) -> None:
        """Promote or demote a member (a staff action outside the API subset)."""
        if privileges not in PRIVILEGE_LEVELS:
            raise ValueError(f"unknown privileges {privileges!r}")
        with self._lock:
            self._require(self._members, "member", member_id)
            self._privileges[member_id] = privileges

    def delete_training(self, member_id: int, record_id: int) -> None:
        """Remove one of the member's training records; another member's record counts as unknown."""
        with self._lock:
            self._require(self._members, "member", member_id)
            records = self._member_trainings[member_id]
            if record_id not in records:
                raise UnknownRecordError("training record", record_id)
            records.remove(record_id)
            del self._trainings[record_id]

    # -- reading ---------------------------------------------------------

    def member(self, member_id: int) -> Json:
        """The member as `GET /members/{id}` shows it (no embeds); raises UnknownRecordError."""
        with self._lock:
            return _clone(self._require(self._members, "member", member_id))

    def members(self) -> list[Json]:
        """Every member, by id."""
        with self._lock:
            return [_clone(member) for member in self._members.values()]

    def course(self, course_id: int) -> Json:
        """The training course; raises UnknownRecordError."""
        with self._lock:
            return _clone(self._require(self._courses, "training course", course_id))

    def courses(self) -> list[Json]:
        """Every training course, archived ones included, by id."""
        with self._lock:
            return [_clone(course) for course in self._courses.values()]

    def privileges_of(self, member_id: int) -> str:
        """The member's level: "member", "admin" or "owner"."""
        with self._lock:
            self._require(self._members, "member", member_id)
            return self._privileges[member_id]

    def trainings_of(self, member_id: int, *, embed_course: bool = False) -> list[Json]:
        """The member's training records by id, optionally with `_embedded.trainingCourse`."""
        with self._lock:
            self._require(self._members, "member", member_id)
            return [self._training_view(record_id, embed_course) for record_id in self._member_trainings[member_id]]

    def counts(self) -> dict[str, int]:
        """Sizes for the control API's stats."""
        with self._lock:
            return {"members": len(self._members), "trainings": len(self._trainings), "courses": len(self._courses)}

    def default_until_date(self, course_id: int, start: str) -> str | None:
        """The untilDate a new record gets when the client sends none (null unless `fill_until_date`)."""
        with self._lock:
            course = self._require(self._courses, "training course", course_id)
            if not self.fill_until_date or course["defaultDuration"] == 0:
                return None
            until = add_duration(date.fromisoformat(start), course["defaultDuration"], course["defaultDurationUnit"])
            return until.isoformat()

    def list_members(
        self,
        *,
        q: str | None = None,
        order_by: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        embed: Iterable[str] = (),
    ) -> tuple[int, list[Json]]:
        """One page of `GET /members`: (total matching, page)."""
        embeds = frozenset(embed)
        with self._lock:
            rows = _select(
                self._members.values(),
                q=q,
                search_fields=MEMBER_SEARCH_FIELDS,
                order_by=order_by,
                descending=descending,
                sort_fields=MEMBER_SORT_FIELDS,
            )
            return len(rows), [self._member_view(row, embeds) for row in rows[offset : offset + limit]]

    def member_view(self, member_id: int, embed: Iterable[str] = ()) -> Json:
        """`GET /members/{id}` with its embeds."""
        with self._lock:
            return self._member_view(self._require(self._members, "member", member_id), frozenset(embed))

    def list_courses(
        self,
        *,
        q: str | None = None,
        order_by: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[Json]]:
        """One page of `GET /training-courses`: (total matching, page)."""
        with self._lock:
            rows = _select(
                self._courses.values(),
                q=q,
                search_fields=COURSE_SEARCH_FIELDS,
                order_by=order_by,
                descending=descending,
                sort_fields=COURSE_SORT_FIELDS,
            )
            return len(rows), [_clone(row) for row in rows[offset : offset + limit]]

    def list_trainings(
        self,
        member_id: int,
        *,
        order_by: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
        embed_course: bool = False,
    ) -> tuple[int, list[Json]]:
        """One page of `GET /members/{id}/trainings`: (total, page)."""
        with self._lock:
            self._require(self._members, "member", member_id)
            rows = _select(
                (self._trainings[record_id] for record_id in self._member_trainings[member_id]),
                q=None,
                search_fields=(),
                order_by=order_by,
                descending=descending,
                sort_fields=TRAINING_SORT_FIELDS,
            )
            page = rows[offset : offset + limit]
            return len(rows), [self._training_view(row["id"], embed_course) for row in page]

    # -- internals (callers hold the lock) -------------------------------

    @staticmethod
    def _require(table: dict[int, Json], kind: str, record_id: int) -> Json:
        try:
            return table[record_id]
        except (KeyError, TypeError):
            raise UnknownRecordError(kind, record_id) from None

    def _training_view(self, record_id: int, embed_course: bool) -> Json:
        view = _clone(self._trainings[record_id])
        if embed_course:
            view["_embedded"] = {"trainingCourse": _clone(self._courses[view["trainingCourse"]])}
        return view

    def _member_view(self, member: Json, embeds: frozenset[str]) -> Json:
        view = _clone(member)
        embedded: Json = {}
        if "trainings" in embeds:
            embedded["trainings"] = [
                self._training_view(record_id, embed_course=True) for record_id in self._member_trainings[member["id"]]
            ]
        if "privileges" in embeds:
            embedded["privileges"] = {"privileges": self._privileges[member["id"]]}
        if embedded:
            view["_embedded"] = embedded
        return view


@dataclass(frozen=True)
class LoggedRequest:
    """One API request as the simulator answered it.

    `path` is without the `/api/v1` prefix (e.g. "/members/1/trainings"),
    `query` is the raw query string, `at` the arrival time (time.time()),
    `injected` tells whether a fault shaped the answer.
    """

    method: str
    path: str
    query: str
    status: int
    at: float
    injected: bool = False

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
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


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
