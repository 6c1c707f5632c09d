"""The answers of the profile and admin endpoints, declared once as types.

Each dataclass here is the single source of one response body: its fields (in
order), which are required (no default), which may be null (`X | None`), and
the description, format and example of each. :func:`schema_of` turns one into
its OpenAPI component, which :mod:`bridge.web.docs` serves, and views answer
through :func:`shape`, which builds the type from the use case's values: a key
the type does not declare, or a required one missing, fails loudly instead of
drifting away from the documented schema. Plain dataclasses are enough here (no
schema library): the bodies are flat, and the few rules fit in one function.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bridge.domain.statistics import CourseMonth
from bridge.domain.statuses import EventStatus
from bridge.services.overview import CourseOverview

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}
WAITING = "While the member waits after a failed attempt: when the next attempt opens (ISO, in TIMEZONE); else null."


def doc(description: str | None = None, *, format: str | None = None, enum: Iterable[str] | None = None) -> dict[str, Any]:
    """A field's documentation, as dataclass field metadata."""
    return {k: v for k, v in {"description": description, "format": format, "enum": list(enum) if enum else None}.items() if v}


@dataclass(frozen=True, kw_only=True)
class AbsolvedTraining:
    """A training the member holds now (the latest record of its course)."""

    id: int = field(metadata=doc("Training course id."))
    title: str
    cs_name: str
    en_name: str
    date: str = field(metadata=doc(format="date"))
    until_date: str | None = field(metadata=doc("Null: never expires.", format="date"))
    record_id: int = field(default=0, metadata=doc("Fabman training record id."))
    online: bool = True

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": 2,
        "title": "Laserová řezačka",
        "cs_name": "Laserová řezačka",
        "en_name": "Laser cutter",
        "date": "2026-03-02",
        "until_date": "2027-03-02",
        "record_id": 17,
        "online": True,
    }


@dataclass(frozen=True, kw_only=True)
class AvailableTraining:
    """An online course the member may take now, as offered to them."""

    id: int = field(metadata=doc("Training course id."))
    title: str
    cs_name: str
    en_name: str
    wiki_url: str | None = None
    yt_url: str | None = None
    quiz_url: str | None = field(
        metadata=doc("The personal quiz link; null when no attempts are left or while the member waits after a failed attempt.")
    )
    attempts: int = field(metadata=doc("Failed attempts so far."))
    max_attempts: int = 0
    attempts_left: int
    available_at: str | None = field(default=None, metadata=doc(WAITING, format="date-time"))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": 4,
        "title": "CNC frézka",
        "cs_name": "CNC frézka",
        "en_name": "CNC milling machine",
        "wiki_url": "https://wiki.example.org/fablab/cnc",
        "yt_url": None,
        "quiz_url": "https://www.classmarker.com/online-test/start/?quiz=cnc0a7f3e6b91&cm_user_id=gAAAAABp...",
        "attempts": 2,
        "max_attempts": 5,
        "attempts_left": 3,
        "available_at": None,
    }


@dataclass(frozen=True, kw_only=True)
class TrainingLinks:
    """One course's personal quiz link and study materials for one member."""

    quiz_url: str | None = field(metadata=doc("Null when no attempts are left or while the member waits."))
    title: str
    cs_name: str
    en_name: str
    wiki_url: str | None
    yt_url: str | None
    attempts: int = 0
    attempts_left: int
    max_attempts: int = 0
    available_at: str | None = field(default=None, metadata=doc(WAITING, format="date-time"))
    missing: list[int] = field(
        default_factory=list, metadata=doc("Ids of required courses the member does not hold (then quiz_url is null).")
    )

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "quiz_url": "https://www.classmarker.com/online-test/start/?quiz=lsr41d8a0c2b7&cm_user_id=gAAAAABp...",
        "title": "Laserová řezačka",
        "cs_name": "Laserová řezačka",
        "en_name": "Laser cutter",
        "wiki_url": "https://wiki.example.org/fablab/laser",
        "yt_url": None,
        "attempts": 0,
        "attempts_left": 3,
        "max_attempts": 3,
        "available_at": None,
        "missing": [],
    }


@dataclass(frozen=True, kw_only=True)
class AttemptsReset:
    """What resetting a member's attempts of a course did."""

    member_id: int
    training_id: int = field(metadata=doc("Training course id."))
    attempts_before: int
    attempts: int

    EXAMPLE: ClassVar[dict[str, Any]] = {"member_id": 3, "training_id": 2, "attempts_before": 3, "attempts": 0}


@dataclass(frozen=True, kw_only=True)
class ExpiryNotice:
    """The expiry mail of one member's course: queued, already queued, or not possible."""

    status: str = field(metadata=doc(enum=("queued", "already_queued", "no_address")))
    member_id: int
    training_id: int = field(metadata=doc("Training course id."))
    record_id: int = field(metadata=doc("The expired Fabman training record announced."))
    until_date: str | None = field(metadata=doc(format="date"))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "status": "queued",
        "member_id": 1,
        "training_id": 2,
        "record_id": 3,
        "until_date": "2026-03-02",
    }


@dataclass(frozen=True, kw_only=True)
class Event:
    """A stored ClassMarker result for staff, without its raw payload (which holds the cm_user_id)."""

    id: int
    result_id: str = field(metadata=doc("ClassMarker's link_result_id (with `:ungraded` while it waits for grading)."))
    status: str = field(metadata=doc(enum=EventStatus))
    outcome: str | None = field(
        metadata=doc(
            "What applying did: granted, failed, out_of_attempts, blocked_pass, ...; for a rejected result why "
            "(rejected, too_early, or a rule 4.10 reason: wrong_quiz, course_not_online, admin_only, "
            "member_not_active, link_too_old)."
        )
    )
    member_id: int | None
    course_id: int | None
    passed: bool | None
    quiz: str | None
    attempts: int = field(metadata=doc("How often processing was tried."))
    next_attempt_at: str | None = field(metadata=doc(format="date-time"))
    last_error: str | None
    reason: str | None = field(metadata=doc("Why a rejected result did not count, in words; null unless rejected."))
    received_at: str | None = field(metadata=doc(format="date-time"))
    updated_at: str | None = field(metadata=doc(format="date-time"))
    source: str = field(metadata=doc("How the result reached the bridge.", enum=("webhook", "poll")))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": 17,
        "result_id": "88123401",
        "status": "applied",
        "outcome": "granted",
        "member_id": 1,
        "course_id": 2,
        "passed": True,
        "quiz": "Laserová řezačka – bezpečnost",
        "attempts": 1,
        "next_attempt_at": None,
        "last_error": None,
        "reason": None,
        "received_at": "2026-12-02T09:14:03+00:00",
        "updated_at": "2026-12-02T09:14:03+00:00",
        "source": "webhook",
    }


@dataclass(frozen=True, kw_only=True)
class JobRun:
    """One run of a job."""

    started_at: str = field(metadata=doc(format="date-time"))
    finished_at: str | None = field(metadata=doc(format="date-time"))
    seconds: float | None
    by: str = field(metadata=doc("cron, cli, or the worker (host:pid:id) that ran it"))
    summary: dict[str, Any] | None = field(metadata=doc("What the run did (the job's own counts)."))
    error: str | None


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """One of the bridge's jobs: whether it runs in-process here, its schedule, its last run."""

    name: str = field(metadata=doc(enum=("retry", "expiry_sweep", "reconciliation", "digest", "checkpoint", "purge")))
    enabled: bool
    schedule: str | None
    last_run: JobRun | None = field(metadata=doc("Null: it never ran."))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "name": "retry",
        "enabled": True,
        "schedule": "every 30 s",
        "last_run": {
            "started_at": "2026-12-02T09:14:30+00:00",
            "finished_at": "2026-12-02T09:14:30.412000+00:00",
            "seconds": 0.412,
            "by": "bridge-7d9f:41:1a2b3c4d",
            "summary": {"processed": 1, "applied": 1, "mails_sent": 1},
            "error": None,
        },
    }


@dataclass(frozen=True, kw_only=True)
class SweepError:
    """One record the sweep could not handle (the next run retries it)."""

    member_id: int
    record_id: int | None
    error: str


@dataclass(frozen=True, kw_only=True)
class ExpirySummary:
    """What one expiry sweep did (in a dry run: would do)."""

    dry_run: bool = field(metadata=doc("True: nothing changed; the counters say what a run would do."))
    today: str = field(metadata=doc("Today in TIMEZONE.", format="date"))
    reminder_days: int
    members_scanned: int
    expired_found: int
    removed: int
    mails_queued: int = field(metadata=doc("Expiry mails newly queued."))
    reminders_queued: int = field(metadata=doc("Reminder mails newly queued (one a day per member)."))
    no_address: int = field(metadata=doc("Expired records of members without an e-mail address."))
    errors: list[SweepError]

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "dry_run": False,
        "today": "2026-03-02",
        "reminder_days": 14,
        "members_scanned": 25,
        "expired_found": 9,
        "removed": 9,
        "mails_queued": 9,
        "reminders_queued": 4,
        "no_address": 0,
        "errors": [],
    }


@dataclass(frozen=True, kw_only=True)
class WebhookReceipt:
    """ClassMarker's answer (and a replay's): what became of the delivery. Empty fields are left out."""

    status: str = field(
        metadata=doc(
            enum=("accepted", "queued", "duplicate", "ignored", *sorted(set(EventStatus) - {EventStatus.QUEUED}), "unknown"),
        )
    )
    event_id: int | None = None
    outcome: str | None = field(default=None, metadata=doc("After a replay: what applying did."))
    detail: str | None = None

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "status": "accepted",
        "event_id": 12,
        "outcome": None,
        "detail": "stored; being applied now",
    }


@dataclass(frozen=True, kw_only=True)
class FabmanEventReceipt:
    """Fabman's answer: the event stored once by its id (or why nothing more happens)."""

    status: str = field(metadata=doc(enum=("stored", "ok", "ignored", "duplicate")))
    id: str = field(metadata=doc("Fabman's event id."))
    type: str
    detail: str

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "status": "stored",
        "id": "80001",
        "type": "resourceLog_created",
        "detail": "denied at a machine; the member is offered the training",
    }


@dataclass(frozen=True, kw_only=True)
class EvidenceKey:
    """What a bundle is checked with: the log's public key and name (section 16)."""

    public_key: str = field(metadata=doc("base64 of the 32-byte Ed25519 public key that signs checkpoints."))
    origin: str = field(metadata=doc("The log's name: FABLAB_NAME followed by ' training evidence'."))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "public_key": "0nq4ckl3YH9DS1Jb9bxYpP9GnD6b8cQ2Zc3n6v0lPqY=",
        "origin": "FabLab Brno training evidence",
    }


@dataclass(frozen=True, kw_only=True)
class TreeHead:
    """A checkpoint's signed part: canonical JSON of these four keys is what the signature covers."""

    origin: str
    size: int = field(metadata=doc("How many leaves the tree holds."))
    root: str = field(metadata=doc("RFC 6962 root hash, lower-case hex."))
    time: str = field(metadata=doc("When it was signed, ISO 8601 UTC.", format="date-time"))


CHECKPOINT_EXAMPLE: dict[str, Any] = {
    "origin": "FabLab Brno training evidence",
    "size": 3,
    "root": "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "time": "2026-12-07T01:45:00Z",
}


@dataclass(frozen=True, kw_only=True)
class SignedCheckpoint:
    """One kept checkpoint with its Ed25519 signature and, when an authority stamped it, the RFC 3161 token."""

    checkpoint: TreeHead
    signature: str = field(metadata=doc("base64 Ed25519 signature of the checkpoint's canonical JSON."))
    public_key: str = field(metadata=doc("base64 of the public key it verifies with."))
    tsa_token: str | None = field(default=None, metadata=doc("base64 DER RFC 3161 TimeStampToken over the canonical JSON."))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "checkpoint": CHECKPOINT_EXAMPLE,
        "signature": "q1b2...==",
        "public_key": "0nq4ckl3YH9DS1Jb9bxYpP9GnD6b8cQ2Zc3n6v0lPqY=",
        "tsa_token": None,
    }


@dataclass(frozen=True, kw_only=True)
class EvidenceBundle:
    """A member's latest granted or renewed event of a course, with all it takes to check it offline."""

    leaf: str = field(metadata=doc("base64 of the leaf bytes exactly as hashed (UTF-8 JSON)."))
    index: int = field(metadata=doc("The leaf's index in the log (from 0)."))
    inclusion: list[str] = field(metadata=doc("RFC 6962 inclusion proof: hex hashes from the leaf up."))
    checkpoint: TreeHead
    signature: str
    public_key: str
    tsa_token: str | None = field(default=None, metadata=doc("Present when the checkpoint was time-stamped."))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "leaf": "eyJjb3Vyc2VfaWQiOjYsImV2ZW50IjoiZ3JhbnRlZCIsLi4ufQ==",
        "index": 2,
        "inclusion": ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        "checkpoint": CHECKPOINT_EXAMPLE,
        "signature": "q1b2...==",
        "public_key": "0nq4ckl3YH9DS1Jb9bxYpP9GnD6b8cQ2Zc3n6v0lPqY=",
        "tsa_token": "MIIE...",
    }


@dataclass(frozen=True, kw_only=True)
class ConsistencyProof:
    """That the log of `second` leaves extends the log of `first` leaves (RFC 6962 2.1.2)."""

    first: int
    second: int
    proof: list[str] = field(metadata=doc("Hex hashes."))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "first": 2,
        "second": 5,
        "proof": [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    }


@dataclass(frozen=True, kw_only=True)
class PurgeSummary:
    """What a retention purge removed (section 17)."""

    payloads_purged: int = field(metadata=doc("Raw ClassMarker webhook bodies removed."))
    fabman_payloads_purged: int = field(metadata=doc("Bodies of Fabman's webhook events removed (handled or ignored ones)."))
    mail_bodies_purged: int = field(metadata=doc("Bodies of sent mail removed."))
    payload_retention_days: int | None = field(metadata=doc("PAYLOAD_RETENTION_DAYS; null: off."))
    mail_retention_days: int | None = field(metadata=doc("MAIL_RETENTION_DAYS; null: off."))

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "payloads_purged": 12,
        "fabman_payloads_purged": 3,
        "mail_bodies_purged": 40,
        "payload_retention_days": 100,
        "mail_retention_days": 30,
    }


SHAPES: tuple[type[Any], ...] = (
    EvidenceKey,
    SignedCheckpoint,
    EvidenceBundle,
    ConsistencyProof,
    PurgeSummary,
    AbsolvedTraining,
    CourseOverview,
    CourseMonth,
    AvailableTraining,
    TrainingLinks,
    AttemptsReset,
    ExpiryNotice,
    Event,
    JobStatus,
    ExpirySummary,
    WebhookReceipt,
    FabmanEventReceipt,
)


def schema_of(shape_type: type[Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of a response type, with its example."""
    hints = typing.get_type_hints(shape_type)
    properties: dict[str, Any] = {}
    required = []
    for item in dataclasses.fields(shape_type):
        properties[item.name] = {**_json_type(hints[item.name]), **item.metadata}
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            required.append(item.name)
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    example = getattr(shape_type, "EXAMPLE", None)
    if example is not None:
        schema["example"] = example
    return schema


def components() -> dict[str, dict[str, Any]]:
    """Every declared response type's schema, by its name."""
    return {shape_type.__name__: schema_of(shape_type) for shape_type in SHAPES}


def shape(shape_type: type[Any], values: dict[str, Any], *, omit_none: bool = False) -> dict[str, Any]:
    """A use case's answer as its declared type, in the type's field order (TypeError on an undeclared key).

    With `omit_none`, fields that are null are left out (the receipts' style).
    """
    built = shape_type(**values)
    shaped = {item.name: getattr(built, item.name) for item in dataclasses.fields(built)}
    return {key: value for key, value in shaped.items() if value is not None} if omit_none else shaped


def _json_type(hint: Any) -> dict[str, Any]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"only `X | None` unions are supported, not {hint}")
        return {**_json_type(members[0]), "nullable": True}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if typing.get_origin(hint) is dict:
        return {"type": "object"}
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _json_type(item)}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        nested = schema_of(hint)
        nested.pop("example", None)
        return nested
    raise TypeError(f"no JSON type for {hint}")
