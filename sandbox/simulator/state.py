"""What the Fabman simulator remembers: the account's data.

`SimState` keeps members, training courses, training records, privileges,
equipment (Fabman's "resources") and the activity log in memory behind one lock, so concurrent request threads always see a change
whole, as they would rows behind a database transaction. Every read returns a
copy: a test holding a member dict never sees it change underneath it, and no
caller can corrupt the store by mutating what it got.

How the simulator misbehaves lives in `faults`, what clients asked in
`requests_log`.
"""

from __future__ import annotations

import calendar
import itertools
import threading
from collections.abc import Iterable, Mapping
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
RESOURCE_SEARCH_FIELDS = ("name",)
RESOURCE_SORT_FIELDS = frozenset({"id", "name", "state", "createdAt", "updatedAt"})
RESOURCE_LOG_SORT_FIELDS = frozenset({"id", "type", "member", "resource", "createdAt"})


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


def _copy(record: Json) -> Json:
    """A copy of one stored record (a JSON object)."""
    return {key: _clone(item) for key, item in record.items()}


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

    Equipment is what Fabman calls a resource: a machine behind a Fabman
    Bridge box, unlocked by the training courses that list it in their
    `resources`. The activity log records access attempts at equipment.

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
        self._resources: dict[int, Json] = {}
        self._resource_logs: dict[int, Json] = {}
        self._resource_ids = itertools.count(1)
        self._resource_log_ids = itertools.count(1)

    # -- writing ---------------------------------------------------------

    def add_resource(self, name: str, *, state: str = "active") -> Json:
        """Create a piece of equipment as staff would in Fabman's admin."""
        with self._lock:
            resource: Json = {
                "id": next(self._resource_ids),
                "account": ACCOUNT_ID,
                "name": name,
                "state": state,
                "lockVersion": 1,
                "createdAt": SEEDED_AT,
                "updatedAt": SEEDED_AT,
            }
            self._resources[resource["id"]] = resource
            return _copy(resource)

    def add_course(
        self,
        title: str,
        *,
        metadata: Json | None = None,
        state: str = "active",
        default_duration: int = 0,
        default_duration_unit: str = "year",
        notes: str | None = None,
        resources: Iterable[int] = (),
    ) -> Json:
        """Create a training course as staff would in Fabman's admin; `resources` are the equipment ids it unlocks."""
        if default_duration_unit not in DURATION_UNITS:
            raise ValueError(f"unknown duration unit {default_duration_unit!r}")
        with self._lock:
            unlocks = list(resources)
            for resource_id in unlocks:
                self._require(self._resources, "resource", resource_id)
            course: Json = {
                "id": next(self._course_ids),
                "account": ACCOUNT_ID,
                "title": title,
                "notes": notes,
                "state": state,
                "defaultDuration": default_duration,
                "defaultDurationUnit": default_duration_unit,
                "resources": unlocks,
                "metadata": _clone(metadata),
                "lockVersion": 1,
                "createdAt": SEEDED_AT,
                "updatedAt": SEEDED_AT,
            }
            self._courses[course["id"]] = course
            return _copy(course)

    def update_course(self, course_id: int, **changes: Any) -> Json:
        """Change a course as staff would in Fabman's admin (e.g. `metadata=...`); lockVersion goes up by one."""
        with self._lock:
            course = self._require(self._courses, "training course", course_id)
            course.update(_clone(changes))
            course["lockVersion"] += 1
            course["updatedAt"] = utc_timestamp()
            return _copy(course)

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
            return _copy(member)

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
            record: Json = {
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
            return _copy(record)

    def add_resource_log(
        self,
        member_id: int | None,
        resource_id: int,
        type: str = "denied",
        reason: str | None = None,
        *,
        created_at: str | None = None,
    ) -> Json:
        """Record an access attempt in the activity log, by default one happening now.

        A `denied` entry without a reason gets `noPermission` (the member
        lacks the training for this equipment); other types keep `reason`
        as given. `member_id` is None for an attempt by no known member.
        """
        with self._lock:
            if member_id is not None:
                self._require(self._members, "member", member_id)
            self._require(self._resources, "resource", resource_id)
            entry: Json = {
                "id": next(self._resource_log_ids),
                "account": ACCOUNT_ID,
                "type": type,
                "reason": "noPermission" if type == "denied" and reason is None else reason,
                "member": member_id,
                "resource": resource_id,
                "createdAt": created_at or utc_timestamp(),
            }
            self._resource_logs[entry["id"]] = entry
            return _copy(entry)

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
            return _copy(member)

    def set_privileges(self, member_id: int, privileges: str) -> None:
        """Promote or demote a member (a staff action outside the API subset)."""
        if privileges not in PRIVILEGE_LEVELS:
            raise ValueError(f"unknown privileges {privileges!r}")
        with self._lock:
            self._require(self._members, "member", member_id)
            self._privileges[member_id] = privileges

    def edit_course(self, course_id: int, **changes: Any) -> Json:
        """Staff edit a course in Fabman's admin (`state`, `metadata`, ...): outside the API subset."""
        with self._lock:
            course = self._require(self._courses, "training course", course_id)
            course.update(_clone(changes))
            course["lockVersion"] += 1
            course["updatedAt"] = utc_timestamp()
            return _copy(course)

    def set_member_state(self, member_id: int, state: str) -> None:
        """Staff lock (or unlock) a member's account: outside the API subset."""
        with self._lock:
            member = self._require(self._members, "member", member_id)
            member["state"] = state
            member["updatedAt"] = utc_timestamp()

    def delete_training(self, member_id: int, record_id: int) -> None:
        """Remove one of the member's training records; another member's record counts as unknown."""
        with self._lock:
            self._require(self._members, "member", member_id)
            records = self._member_trainings[member_id]
            if record_id not in records:
                raise UnknownRecordError("training record", record_id)
            records.remove(record_id)
            del self._trainings[record_id]

    def delete_member(self, member_id: int) -> None:
        """Delete a member with their training records, as staff would in Fabman's admin (`GET` answers 404 after)."""
        with self._lock:
            self._require(self._members, "member", member_id)
            for record_id in self._member_trainings.pop(member_id, []):
                self._trainings.pop(record_id, None)
            del self._members[member_id]
            self._privileges.pop(member_id, None)

    # -- reading ---------------------------------------------------------

    def member(self, member_id: int) -> Json:
        """The member as `GET /members/{id}` shows it (no embeds); raises UnknownRecordError."""
        with self._lock:
            return _copy(self._require(self._members, "member", member_id))

    def members(self) -> list[Json]:
        """Every member, by id."""
        with self._lock:
            return [_clone(member) for member in self._members.values()]

    def course(self, course_id: int) -> Json:
        """The training course; raises UnknownRecordError."""
        with self._lock:
            return _copy(self._require(self._courses, "training course", course_id))

    def courses(self) -> list[Json]:
        """Every training course, archived ones included, by id."""
        with self._lock:
            return [_clone(course) for course in self._courses.values()]

    def resource(self, resource_id: int) -> Json:
        """The equipment as `GET /resources/{id}` shows it; raises UnknownRecordError."""
        with self._lock:
            return _copy(self._require(self._resources, "resource", resource_id))

    def resource_logs(self) -> list[Json]:
        """The whole activity log, oldest entry first."""
        with self._lock:
            return [_clone(entry) for entry in self._resource_logs.values()]

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
            return {
                "members": len(self._members),
                "trainings": len(self._trainings),
                "courses": len(self._courses),
                "resources": len(self._resources),
                "resourceLogs": len(self._resource_logs),
            }

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

    def list_resources(
        self,
        *,
        q: str | None = None,
        order_by: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[Json]]:
        """One page of `GET /resources`: (total matching, page)."""
        with self._lock:
            rows = _select(
                self._resources.values(),
                q=q,
                search_fields=RESOURCE_SEARCH_FIELDS,
                order_by=order_by,
                descending=descending,
                sort_fields=RESOURCE_SORT_FIELDS,
            )
            return len(rows), [_clone(row) for row in rows[offset : offset + limit]]

    def list_resource_logs(
        self,
        *,
        order_by: str = "id",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[Json]]:
        """One page of `GET /resource-logs`: (total, page)."""
        with self._lock:
            rows = _select(
                self._resource_logs.values(),
                q=None,
                search_fields=(),
                order_by=order_by,
                descending=descending,
                sort_fields=RESOURCE_LOG_SORT_FIELDS,
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
        view = _copy(self._trainings[record_id])
        if embed_course:
            view["_embedded"] = {"trainingCourse": _clone(self._courses[view["trainingCourse"]])}
        return view

    def _member_view(self, member: Json, embeds: frozenset[str]) -> Json:
        view = _copy(member)
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
