"""An unexpected `requires_grading`: a result ClassMarker has not finished grading must never count.

ClassMarker sends `"requires_grading": "Yes"` for a result with essay
questions still to grade, and sends it again once graded. Before, only the
exact word `Yes` held a result back, so `"Pending"`, `true` or `"1"` counted
as graded and a pass was granted on a score that could still change. Now
anything other than `No` (any case) or no value at all waits for the graded
re-send.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.adapters.classmarker import parse_delivery
from bridge.adapters.classmarker.wire import read_page
from bridge.application import Bridge
from bridge.domain.statuses import EventStatus
from harness.classmarker import result_payload, signed
from sandbox.simulator import FabmanSimulator

PETRA, LASER = 1, 2
UNEXPECTED: list[Any] = ["Pending", "YES", " yes ", "", "true", True, 1, "maybe", {"graded": False}]
GRADED: list[Any] = ["No", "NO", " no "]


@pytest.mark.parametrize("value", UNEXPECTED, ids=repr)
def test_an_unexpected_value_is_awaiting_grading_in_the_webhook_and_the_api(value: Any) -> None:
    payload = result_payload("token", requires_grading="No")
    payload["result"]["requires_grading"] = value

    assert parse_delivery(payload).result.requires_grading is True  # type: ignore[union-attr]
    listed = read_page({"status": "ok", "results": [{"result": {**payload["result"], "status": "f"}}]}, set())
    assert listed.results[0].requires_grading is True


@pytest.mark.parametrize("value", [*GRADED, None], ids=repr)
def test_no_or_no_value_is_graded(value: Any) -> None:
    payload = result_payload("token")
    if value is None:
        del payload["result"]["requires_grading"]
    else:
        payload["result"]["requires_grading"] = value

    assert parse_delivery(payload).result.requires_grading is False  # type: ignore[union-attr]


@pytest.mark.e2e
@pytest.mark.parametrize("value", ["Pending", True, "1"], ids=repr)
def test_a_pass_with_an_unexpected_value_grants_nothing_until_the_graded_result(
    value: Any, client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator
) -> None:
    payload = result_payload(bridge.codec.encode(PETRA, LASER), result_id=994001)
    payload["result"]["requires_grading"] = value
    body, headers = signed(payload)
    simulator.clear_requests()

    held = client.post("/add_classmarker_training", data=body, headers=headers)

    assert held.status_code == 200 and held.json["status"] == "ignored"
    assert [e.status for e in bridge.store.inbox.events()] == [EventStatus.AWAITING_GRADING]
    assert [r for r in simulator.requests if r.method != "GET"] == []

    payload["result"]["requires_grading"] = "No"
    body, headers = signed(payload)
    graded = client.post("/add_classmarker_training", data=body, headers=headers)

    assert bridge.event(graded.json["event_id"]).outcome == "granted"
