"""Results end to end: clients that send a ClassMarker result and wait until it is applied, then send the next.

So each client has one result in flight, as a member finishing one quiz after
another would, and N clients keep at most N results being applied at once:
the most they could get through is N / (Fabman calls x latency) results a
second, the I/O bound the figures are read against.

Everything is counted from the world. The client stamps the moment it sends
(time.time(), the clock the simulator logs with) and reads the answer (its
latency, `status` and `event_id`); :class:`AppliedWatcher` sees the event
leave the queue in the store. Afterwards the simulator's request log tells,
per result, the Fabman calls made on that member between sending and being
applied and when the last write's answer was ready: the time to effect. Each
client writes only its own members, one result at a time, so those windows
never mix two results.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.load import Lane, percentile
from bench.scenarios import Workload
from bench.stores import AppliedWatcher

_MEMBER_PATH = re.compile(r"^/members/(\d+)(?:/|$)")
APPLIED = "applied"
ACCEPTED = "accepted"


@dataclass(frozen=True)
class Stages:
    """Where a result's time to effect went: until the bridge's first Fabman call arrived, in the
    simulator (latency and work, per call), and in the bridge between its calls."""

    until_first_call: float
    in_fabman: float
    between_calls: float


@dataclass
class ResultSample:
    """One result: when it was sent, what the webhook answered, when the bench saw it applied."""

    member_id: int
    sent_at: float
    answer_seconds: float
    http_status: int
    answer: str | None = None
    event_id: int | None = None
    final_status: str | None = None
    seen_at: float | None = None
    fabman_calls: int | None = None
    effect_at: float | None = None
    stages: Stages | None = None

    @property
    def effect_seconds(self) -> float | None:
        """From sending the result to the end of its last Fabman write."""
        return None if self.effect_at is None else self.effect_at - self.sent_at


@dataclass
class ResultsPhase:
    """The results of one closed-loop phase."""

    clients: int
    passed: bool
    pause: float = 0.0
    samples: list[ResultSample] = field(default_factory=list)


def run_results(
    host: str,
    port: int,
    workload: Workload,
    watcher: AppliedWatcher,
    *,
    clients: int,
    duration: float,
    passed: bool,
    seed: int,
    pause: float = 0.0,
    wait_seconds: float = 15.0,
) -> ResultsPhase:
    """`clients` clients, each sending results and waiting for each to be applied, until `duration` s have passed.

    A client waits at most `wait_seconds` for one accepted result, and not
    at all for one the webhook answered `queued` (its process's apply pool was
    full; the retry job applies it within RETRY_EVERY_SECONDS): it counts as
    not applied in the phase. So the phase ends within `duration` +
    `wait_seconds` (+ one answer). With
    `pause` a client lets that many seconds pass after each applied result,
    so the bridge has sent its mail and is idle when the next one comes.
    """
    per_client: list[list[ResultSample]] = [[] for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        members = Lane(rng, index, clients).members_in_turn(workload.members)
        mine = per_client[index]
        connection = http.client.HTTPConnection(host, port, timeout=60)
        ready.wait()
        while time.perf_counter() < deadline[0]:
            member_id = next(members)
            call = workload.result_for(member_id, workload.course(rng), passed=passed)
            sent_at, started = time.time(), time.perf_counter()
            try:
                connection.request(call.method, call.path, body=call.body, headers=call.headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
                mine.append(ResultSample(member_id, sent_at, time.perf_counter() - started, 0))
                continue
            sample = ResultSample(member_id, sent_at, time.perf_counter() - started, response.status)
            mine.append(sample)
            _read_receipt(sample, body)
            if sample.event_id is None or sample.answer != ACCEPTED:
                continue  # `queued`: the apply pool was full, the retry job applies it later; not waited for
            waiter = watcher.watch(sample.event_id)
            if waiter.wait(wait_seconds):
                sample.final_status, sample.seen_at = waiter.status, waiter.seen_at
            else:
                watcher.forget(sample.event_id)
            if pause:
                time.sleep(pause)  # pacing, not waiting for a condition: the next result finds the bridge idle
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    phase = ResultsPhase(clients, passed, pause)
    deadline[0] = time.perf_counter() + duration
    ready.wait()
    for thread in threads:
        thread.join()
    for mine in per_client:
        phase.samples.extend(mine)
    return phase


def _read_receipt(sample: ResultSample, body: bytes) -> None:
    try:
        receipt = json.loads(body)
    except ValueError:
        return
    if isinstance(receipt, dict):
        sample.answer = str(receipt.get("status"))
        event_id = receipt.get("event_id")
        sample.event_id = event_id if isinstance(event_id, int) else None


def attach_effects(phase: ResultsPhase, logged: list[dict[str, Any]]) -> None:
    """Give each applied result its Fabman calls and the end of its last write, from the simulator's log."""
    by_member: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entry in logged:
        found = _MEMBER_PATH.match(entry["path"])
        if found:
            by_member[int(found.group(1))].append(entry)
    for sample in phase.samples:
        if sample.seen_at is None:
            continue
        window = [entry for entry in by_member[sample.member_id] if sample.sent_at <= entry["at"] <= sample.seen_at]
        writes = [entry["answered_at"] for entry in window if entry["method"] != "GET"]
        sample.fabman_calls = len(window)
        sample.effect_at = max(writes) if writes else None
        if sample.effect_at is not None:
            first_call = min(entry["at"] for entry in window)
            in_fabman = sum(entry["answered_at"] - entry["at"] for entry in window if entry["answered_at"] <= sample.effect_at)
            sample.stages = Stages(first_call - sample.sent_at, in_fabman, sample.effect_at - first_call - in_fabman)


def effect_figures(
    phase: ResultsPhase, logged: list[dict[str, Any]], *, latency_ms: float, calls_per_result: int
) -> dict[str, Any]:
    """The phase's figures: answers, time to effect, applied results per second, Fabman calls, all from the world."""
    attach_effects(phase, logged)
    samples = phase.samples
    applied = [s for s in samples if s.final_status == APPLIED]
    effects = [s.effect_seconds for s in applied if s.effect_seconds is not None]
    stages = [s.stages for s in applied if s.stages is not None]
    ends = [s.effect_at for s in applied if s.effect_at is not None]
    span = max(ends) - min(s.sent_at for s in samples) if ends else 0.0
    rated = span > 0 and not phase.pause  # a paced phase says nothing about how many results a second get through
    writes = sum(1 for entry in logged if entry["method"] != "GET" and _MEMBER_PATH.match(entry["path"]))
    calls = [s.fabman_calls for s in applied if s.fabman_calls is not None]
    bound = phase.clients / (calls_per_result * latency_ms / 1000)
    answers = Counter(sample.answer or f"http {sample.http_status}" for sample in samples)
    return {
        "clients": phase.clients,
        "passed": phase.passed,
        "results": len(samples),
        "answers": dict(sorted(answers.items())),
        "errors": sum(1 for s in samples if not 200 <= s.http_status < 300),
        "applied": len(applied),
        "not_applied": len(samples) - len(applied),
        "final_statuses": dict(sorted(Counter(s.final_status or "not seen" for s in samples).items())),
        "fabman_writes": writes,
        "fabman_per_result": round(sum(calls) / len(calls), 3) if calls else None,
        "fabman_max_per_result": max(calls) if calls else None,
        "answer_p50_ms": _ms(percentile([s.answer_seconds for s in samples], 50)),
        "answer_p95_ms": _ms(percentile([s.answer_seconds for s in samples], 95)),
        "effect_p50_ms": _ms(percentile(effects, 50)) if effects else None,
        "effect_p95_ms": _ms(percentile(effects, 95)) if effects else None,
        "effect_p99_ms": _ms(percentile(effects, 99)) if effects else None,
        "effect_stages_p50_ms": {
            "until_first_fabman_call": _ms(percentile([stage.until_first_call for stage in stages], 50)),
            "in_fabman": _ms(percentile([stage.in_fabman for stage in stages], 50)),
            "bridge_between_calls": _ms(percentile([stage.between_calls for stage in stages], 50)),
        }
        if stages
        else None,
        "seconds_until_all_applied": round(span, 2),
        "pause_ms": _ms(phase.pause),
        "applied_per_second": round(len(applied) / span, 1) if rated else None,
        "io_bound_per_second": round(bound, 1),
        "share_of_bound": round(len(applied) / span / bound, 2) if rated else None,
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
