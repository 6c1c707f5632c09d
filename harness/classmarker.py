"""ClassMarker link results as ClassMarker sends them, signed with the webhook secret."""

from __future__ import annotations

import json
from typing import Any

from bridge.domain.results import sign
from harness import WEBHOOK_SECRET


def result_payload(
    token: str | None,
    *,
    result_id: int | str = 88123401,
    passed: bool = True,
    percentage: Any = 90,
    requires_grading: str = "No",
    test_name: str = "Laser cutter - safety",
) -> dict[str, Any]:
    """A ClassMarker link result shaped as ClassMarker sends it."""
    result: dict[str, Any] = {
        "link_result_id": result_id,
        "first": "Petra",
        "last": "Dvorakova",
        "email": "petra@example.org",
        "percentage": percentage,
        "points_scored": 9 if passed else 4,
        "points_available": 10,
        "requires_grading": requires_grading,
        "time_started": 1763712000,
        "time_finished": 1763712420,
        "duration": "00:07:00",
        "percentage_passmark": "80",
        "passed": passed,
        "feedback": "",
        "ip_address": "203.0.113.7",
    }
    if token is not None:
        result["cm_user_id"] = token
    return {
        "payload_type": "single_user_test_results_link",
        "payload_status": "live",
        "test": {"test_id": 2044187, "test_name": test_name},
        "link": {"link_id": 1288001, "link_name": "Laser cutter (members)", "link_url_id": "q7b2d9e1f0a3c4"},
        "result": result,
    }


def signed(payload: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """Body bytes and the headers ClassMarker would send with them."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    return body, {"X-Classmarker-Hmac-Sha256": sign(secret, body), "Content-Type": "application/json"}
