"""ClassMarker link results as ClassMarker sends them, signed with the webhook secret."""

from __future__ import annotations

import json
from typing import Any

from bridge.adapters.fabman.wire import course_from_json
from bridge.domain.courses import quiz_key
from bridge.domain.results import sign
from harness import WEBHOOK_SECRET
from sandbox.simulator import SimState
from sandbox.simulator.seed import DEMO_QUIZZES

LASER_QUIZ = DEMO_QUIZZES[2]
"""The demo laser cutter course's quiz key: the sample result below was taken through its link."""


def quiz_of(course_id: int) -> str:
    """The quiz key (`link_url_id`) of a demo course: what a result taken through its link names."""
    return DEMO_QUIZZES[course_id]


def quizzes_in(state: SimState) -> dict[int, str]:
    """Each course's quiz key in a simulated Fabman (generated data sets too), read as the bridge reads it."""
    found = {course["id"]: quiz_key(course_from_json(course)) for course in state.courses()}
    return {course_id: quiz for course_id, quiz in found.items() if quiz is not None}


def result_payload(
    token: str | None,
    *,
    result_id: int | str = 88123401,
    passed: bool = True,
    percentage: Any = 90,
    requires_grading: str = "No",
    test_name: str = "Laser cutter - safety",
    quiz: str | None = LASER_QUIZ,
) -> dict[str, Any]:
    """A ClassMarker link result shaped as ClassMarker sends it, taken through the link of `quiz`.

    `quiz` is the `quiz` key of the start URL the taker opened (ClassMarker's
    `link.link_url_id`): the laser cutter's unless another is named; None
    sends a link without one.
    """
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
    link: dict[str, Any] = {"link_id": 1288001, "link_name": "Laser cutter (members)"}
    if quiz is not None:
        link["link_url_id"] = quiz
    return {
        "payload_type": "single_user_test_results_link",
        "payload_status": "live",
        "test": {"test_id": 2044187, "test_name": test_name},
        "link": link,
        "result": result,
    }


def signed(payload: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """Body bytes and the headers ClassMarker would send with them."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    return body, {"X-Classmarker-Hmac-Sha256": sign(secret, body), "Content-Type": "application/json"}
