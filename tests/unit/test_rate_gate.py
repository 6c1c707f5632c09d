"""Issue 20: a 429 pauses every applier of the process for the time Fabman asks, then they resume."""

from __future__ import annotations

import threading

import pytest
import responses

from bridge.adapters.fabman import FabmanClient, FabmanRateLimited, RateGate

BASE = "https://fabman.test/api/v1"
MEMBER = {"id": 1, "firstName": "Petra", "lastName": "D", "state": "active", "metadata": None, "lockVersion": 1}


class FakeTime:
    """A monotonic clock that moves only by the sleeps asked of it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        self.sleep(seconds)


@responses.activate
def test_a_429_closes_the_gate_for_every_client_sharing_it_and_the_call_is_made_again() -> None:
    time = FakeTime()
    gate = RateGate(time)
    patient = FabmanClient(BASE, "Bearer key", sleep=time.sleep)
    first, second = patient.derive(rate_gate=gate), patient.derive(rate_gate=gate)
    responses.get(f"{BASE}/members/1", status=429, headers={"Retry-After": "3"})
    responses.get(f"{BASE}/members/1", json=MEMBER)
    responses.get(f"{BASE}/members/2", json={**MEMBER, "id": 2})

    assert first.get_member(1).id == 1  # waited Fabman's 3 s at the gate, then asked again
    assert time.sleeps == [3.0]
    gate.close_for(2.0)  # another applier met a 429 with no Retry-After
    assert second.get_member(2).id == 2
    assert time.sleeps == [3.0, 2.0]  # the other client waited too before its call went out
    assert [call.request.url.split("?")[0] for call in responses.calls] == [f"{BASE}/members/1"] * 2 + [f"{BASE}/members/2"]


@responses.activate
def test_a_rate_limit_longer_than_the_budget_raises_a_typed_error_and_still_pauses_the_others() -> None:
    time = FakeTime()
    gate = RateGate(time)
    client = FabmanClient(BASE, "Bearer key", sleep=time.sleep, rate_limit_budget=6.0).derive(rate_gate=gate)
    responses.get(f"{BASE}/members/1", status=429, headers={"Retry-After": "30"})

    with pytest.raises(FabmanRateLimited) as raised:
        client.get_member(1)

    assert (raised.value.retry_after, raised.value.status, raised.value.retryable) == (30.0, 429, True)
    assert time.sleeps == [] and gate.remaining() == 30.0  # the result is deferred; the others wait 30 s
