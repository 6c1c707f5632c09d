"""ClassMarker results as the bridge sees them: the typed result, the webhook's signature, the notes naming a result.

:mod:`bridge.adapters.classmarker.wire` reads ClassMarker's loose JSON (a
webhook body or a results API answer) into these types; the rest of the
bridge sees a QuizResult and never a field name of ClassMarker's.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any


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
class ResultDelivery:
    """What a ClassMarker webhook body is: a verify ping, a group result (no `cm_user_id`), or a link result."""

    kind: str
    result: QuizResult | None = None


def training_notes(result: QuizResult) -> str:
    """The notes of a training record created from a result; they name the result id."""
    score = f"{result.percentage:g} %" if result.percentage is not None else "a passing score"
    mark = f" (pass mark {result.percentage_passmark:g} %)" if result.percentage_passmark is not None else ""
    quiz = f"“{result.test_name}”" if result.test_name else "online quiz"
    return f"Online quiz {quiz} passed with {score}{mark}. ClassMarker result #{result.result_id}."


def notes_name_result(notes: str | None, result_id: str) -> bool:
    """Whether a record's notes say it was created from this result."""
    return bool(notes) and f"ClassMarker result #{result_id}." in notes  # type: ignore[operator]
