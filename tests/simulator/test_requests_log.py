"""The simulator's request log tells when each answer was ready, not only when the request came in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest
import requests

from sandbox.simulator import FabmanSimulator, demo_state

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[FabmanSimulator]:
    with FabmanSimulator(demo_state(date(2025, 3, 15))) as simulator:
        yield simulator


def test_a_logged_write_ends_after_its_latency_and_before_the_client_has_the_answer(sim: FabmanSimulator) -> None:
    sim.faults.latency_ms = 40
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {sim.api_key}"
        member = http.get(f"{sim.base_url}/members/1", timeout=5).json()
        sent = time.time()
        answer = http.put(f"{sim.base_url}/members/1", json={"notes": "x", "lockVersion": member["lockVersion"]}, timeout=5)
        received = time.time()

    assert answer.status_code == 200
    [write] = [entry for entry in sim.requests if entry.method == "PUT"]
    assert sent <= write.at < write.answered_at <= received
    assert write.answered_at - write.at >= 0.04
    [listed] = [entry for entry in requests.get(f"{sim.root_url}/_sim/requests", timeout=5).json() if entry["method"] == "PUT"]
    assert listed["answered_at"] == write.answered_at
