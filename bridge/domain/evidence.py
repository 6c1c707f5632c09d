"""Evidence leaves and checkpoints (contract section 16): their exact bytes, built from plain data.

A leaf is the UTF-8 bytes of one JSON object; those bytes are stored, hashed
and served unchanged, so anyone can recompute the tree from what the bridge
hands out. A checkpoint's signed bytes are its JSON with sorted keys and no
spaces. No name, e-mail or IP address ever goes into a leaf: the member is
named by id and by `subject`, an HMAC of the e-mail under a per-member salt
that erasure deletes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, overload

LEAF_VERSION = 1


class EvidenceEvent:
    """The events the log records."""

    GRANTED = "granted"
    RENEWED = "renewed"
    FAILED = "failed"
    REMOVED = "removed"
    ERASED = "erased"


PROOF_EVENTS = (EvidenceEvent.GRANTED, EvidenceEvent.RENEWED)
"""Events a proof bundle is made of (the member holds the training)."""


@overload
def utc_text(moment: dt.datetime) -> str: ...
@overload
def utc_text(moment: dt.datetime | None) -> str | None: ...
def utc_text(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second (as leaves and checkpoints carry times)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_sent(value: Any) -> str | None:
    """A ClassMarker number as a string, the way it came (85 -> "85", "85.5" -> "85.5")."""
    if value is None or isinstance(value, (dict, list)) or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def subject(email: str | None, salt: bytes) -> str | None:
    """hex HMAC-SHA256(salt, lower-case e-mail): links a leaf to a person only while the salt exists."""
    if not email:
        return None
    return hmac.new(salt, email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class LeafFields:
    """What one evidence event says, before it becomes the leaf's bytes."""

    event: str
    member_id: int
    course_id: int | None
    result_id: str | None = None
    quiz: str | None = None
    score: str | None = None
    passmark: str | None = None
    finished_at: str | None = None
    recorded_at: str | None = None
    fabman_record_id: int | None = None
    payload_sha256: str | None = None
    subject: str | None = None

    def leaf(self) -> bytes:
        """The leaf's bytes: compact JSON, keys sorted, UTF-8."""
        document = {
            "v": LEAF_VERSION,
            "event": self.event,
            "member_id": self.member_id,
            "course_id": self.course_id,
            "result_id": self.result_id,
            "quiz": self.quiz,
            "score": self.score,
            "passmark": self.passmark,
            "finished_at": self.finished_at,
            "recorded_at": self.recorded_at,
            "fabman_record_id": self.fabman_record_id,
            "payload_sha256": self.payload_sha256,
            "subject": self.subject,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def result_fields(event: str, raw_body: str, *, member_id: int, course_id: int | None, recorded_at: dt.datetime,
                  fabman_record_id: int | None = None) -> tuple[LeafFields, str | None]:  # fmt: skip
    """A result's leaf fields from its raw webhook body (scores as sent), and the e-mail the subject is made of.

    Reads the body itself rather than the typed result, so `score` and
    `passmark` stay exactly as ClassMarker sent them and `quiz` is the link's
    `link_url_id`.
    """
    try:
        payload = json.loads(raw_body)
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    result = _section(payload, "result")
    link = _section(payload, "link")
    finished = result.get("time_finished")
    try:
        finished_at = utc_text(dt.datetime.fromtimestamp(float(finished), dt.UTC)) if finished not in (None, "") else None
    except (TypeError, ValueError, OverflowError, OSError):
        finished_at = None
    email = result.get("email") if isinstance(result.get("email"), str) else None
    fields = LeafFields(
        event=event,
        member_id=member_id,
        course_id=course_id,
        result_id=as_sent(result.get("link_result_id")),
        quiz=as_sent(link.get("link_url_id")),
        score=as_sent(result.get("percentage")),
        passmark=as_sent(result.get("percentage_passmark")),
        finished_at=finished_at,
        recorded_at=utc_text(recorded_at),
        fabman_record_id=fabman_record_id,
        payload_sha256=hashlib.sha256(raw_body.encode("utf-8")).hexdigest(),
    )
    return fields, email


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: sorted keys, separators `,` and `:`, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def origin_of(fablab_name: str) -> str:
    """The log's name in every checkpoint."""
    return f"{fablab_name} training evidence"


def _section(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of a webhook body, or an empty one."""
    section = payload.get(name)
    return section if isinstance(section, dict) else {}
