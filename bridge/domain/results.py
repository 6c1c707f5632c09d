"""ClassMarker result webhooks: verifying the signature and reading the payload.

ClassMarker's types are loose (ids and marks as numbers or strings), so every
field is coerced here, once; the rest of the bridge sees a typed QuizResult.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

LINK_RESULT = "single_user_test_results_link"
GROUP_RESULT = "single_user_test_results_group"
MAX_TEXT = 255


class InvalidResult(ValueError):
    """The body is not a ClassMarker result the bridge understands."""


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """base64(HMAC-SHA256(secret, raw body)) equals one of the header's comma-separated values."""
    if not header or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest())
    matched = False
    for candidate in header.split(","):
        matched |= hmac.compare_digest(candidate.strip().encode("utf-8", "replace"), expected)
    return matched


def sign(secret: str, body: bytes) -> str:
    """The header value ClassMarker would send for this body (demo and tests)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True)
class QuizResult:
    """One link result, typed."""

    result_id: str
    cm_user_id: str
    passed: bool
    requires_grading: bool
    percentage: float | None
    points_scored: float | None
    points_available: float | None
    percentage_passmark: float | None
    time_started: dt.datetime | None
    time_finished: dt.datetime | None
    test_id: str | None
    test_name: str | None
    link_id: str | None
    email: str | None
    quiz: str | None = None
    """The `link_url_id` of the link the quiz was taken through: the `quiz` key of its start URL (contract 4.10)."""

    def evidence(self) -> dict[str, Any]:
        """What the ledger keeps as proof (no cm_user_id, no IP address)."""
        return {
            "result_id": self.result_id,
            "test_id": self.test_id,
            "test_name": self.test_name,
            "link_id": self.link_id,
            "quiz": self.quiz,
            "percentage": self.percentage,
            "points_scored": self.points_scored,
            "points_available": self.points_available,
            "percentage_passmark": self.percentage_passmark,
            "time_started": self.time_started.isoformat() if self.time_started else None,
            "time_finished": self.time_finished.isoformat() if self.time_finished else None,
        }


@dataclass(frozen=True)
class Delivery:
    """What a webhook body is: a verify ping, a group result (no `cm_user_id`), or a link result."""

    kind: str
    result: QuizResult | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text if text and len(text) <= 40 and text.isprintable() else None


def _text(value: Any) -> str | None:
    """Display text; control characters become spaces (PostgreSQL text cannot hold NUL)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = "".join(char if char.isprintable() else " " for char in str(value)).strip()
    return text[:MAX_TEXT] or None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "false", "no", "0"}:
        return value.strip().lower() in {"true", "yes", "1"}
    return None


def _timestamp(value: Any) -> dt.datetime | None:
    seconds = _number(value)
    if seconds is None or not 0 <= seconds < 2**33:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def parse_delivery(payload: Any) -> Delivery:
    """Classify and type a decoded webhook body; InvalidResult when it is not one."""
    if not isinstance(payload, dict):
        raise InvalidResult("the body must be a JSON object")
    if payload.get("payload_status") == "verify":
        return Delivery("verify")
    payload_type = payload.get("payload_type")
    if payload_type == GROUP_RESULT:
        return Delivery("group")
    result = payload.get("result")
    if payload_type != LINK_RESULT or not isinstance(result, dict):
        raise InvalidResult("not a ClassMarker link result (payload_type, result)")
    if "cm_user_id" not in result and "user_id" in result:
        return Delivery("group")
    result_id = _identifier(result.get("link_result_id"))
    if result_id is None:
        raise InvalidResult("result.link_result_id is missing or invalid")
    passed = _flag(result.get("passed"))
    if passed is None:
        raise InvalidResult("result.passed must be a boolean")
    token = result.get("cm_user_id")
    if token is None or (isinstance(token, str) and not token.strip()):
        return Delivery("group")  # contract 4.3: no cm_user_id, nobody to credit (taken without a personal link)
    test = _section(payload, "test")
    link = _section(payload, "link")
    return Delivery(
        "link",
        QuizResult(
            result_id=result_id,
            cm_user_id=str(token).strip(),
            passed=passed,
            requires_grading=awaiting_grading(result.get("requires_grading")),
            percentage=_number(result.get("percentage")),
            points_scored=_number(result.get("points_scored")),
            points_available=_number(result.get("points_available")),
            percentage_passmark=_number(result.get("percentage_passmark")),
            time_started=_timestamp(result.get("time_started")),
            time_finished=_timestamp(result.get("time_finished")),
            test_id=_identifier(test.get("test_id")),
            test_name=_text(test.get("test_name")),
            link_id=_identifier(link.get("link_id")),
            email=_text(result.get("email")),
            quiz=link_quiz(link),
        ),
    )


def awaiting_grading(value: Any) -> bool:
    """Strict: only `No` (any case) or no value at all means graded; anything else waits for the graded re-send.

    A value the bridge does not know (`"Pending"`, `true`, `""`) must never
    count as graded: ClassMarker sends the result again once it is.
    """
    if value is None:
        return False
    return not (isinstance(value, str) and value.strip().lower() == "no")


def link_quiz(link: Any) -> str | None:
    """The quiz a result was taken through: its link's `link_url_id` (None when missing or not a key).

    Anyone can open any quiz's start URL with any `cm_user_id`, so this
    field, not the token, says which quiz a result is for.
    """
    return _identifier(link.get("link_url_id")) if isinstance(link, dict) else None


def training_notes(result: QuizResult) -> str:
    """The notes of a training record created from a result; they name the result id."""
    score = f"{result.percentage:g} %" if result.percentage is not None else "a passing score"
    mark = f" (pass mark {result.percentage_passmark:g} %)" if result.percentage_passmark is not None else ""
    quiz = f"“{result.test_name}”" if result.test_name else "online quiz"
    return f"Online quiz {quiz} passed with {score}{mark}. ClassMarker result #{result.result_id}."


def notes_name_result(notes: str | None, result_id: str) -> bool:
    """Whether a record's notes say it was created from this result."""
    return bool(notes) and f"ClassMarker result #{result_id}." in notes  # type: ignore[operator]


def _section(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of the payload, or an empty one when it is missing or not an object."""
    section = payload.get(name)
    return section if isinstance(section, dict) else {}
