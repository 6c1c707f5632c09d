"""Issue 20's figures: clients sending results back to back, never waiting for the effect, and when each effect lands.

`clients` clients (split over one or more bridge instances) send failing
results for `duration` seconds, each on its own keep-alive connection, as a
class finishing the same quiz would. Nothing waits for applying: what the
figures say is whether the bridge's appliers keep up with the answers.

Everything is counted from the world. A failing result's effect is one
successful PUT of the member in Fabman (its counted attempt); the
simulator's request log gives each PUT's `answered_at`. The results of one
member are applied one after another in the order they were stored, so the
k-th successful PUT of a member is the effect of that member's k-th result
(by event id). A member with more successful PUTs than results has a result
applied twice (`doubles`); a result with no PUT is still waiting.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.load import Lane, percentile
from bench.scenarios import Workload

_MEMBER_PUT = "/members/"


@dataclass
class Sent:
    """One result: whom it was for, when it was sent and answered, what the webhook said."""

    member_id: int
    sent_at: float
    answer_seconds: float
    http_status: int
    answer: str | None = None
    event_id: int | None = None
    effect_at: float | None = None


@dataclass
class LoadPhase:
    """The results of one open phase and when the load stopped."""

    clients: int
    instances: int
    started_at: float = 0.0
    stopped_at: float = 0.0
    samples: list[Sent] = field(default_factory=list)


def run_load(ports: list[int], workload: Workload, *, clients: int, duration: float, seed: int) -> LoadPhase:
    """`clients` clients, client i on instance i mod len(ports), sending failing results back to back."""
    per_client: list[list[Sent]] = [[] for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        lane = Lane(rng, index, clients)
        port = ports[index % len(ports)]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = per_client[index]
        ready.wait()
        while time.perf_counter() < deadline[0]:
            member_id = lane.member(workload.members)
            call = workload.result_for(member_id, workload.course(rng), passed=False)
            sent_at, started = time.time(), time.perf_counter()
            try:
                connection.request(call.method, call.path, body=call.body, headers=call.headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                mine.append(Sent(member_id, sent_at, time.perf_counter() - started, 0))
                continue
            sample = Sent(member_id, sent_at, time.perf_counter() - started, response.status)
            try:
                receipt = json.loads(body)
                sample.answer = str(receipt.get("status"))
                sample.event_id = receipt.get("event_id") if isinstance(receipt.get("event_id"), int) else None
            except (ValueError, AttributeError):
                pass
            mine.append(sample)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    phase = LoadPhase(clients, len(ports))
    phase.started_at = time.time()
    deadline[0] = time.perf_counter() + duration
    ready.wait()
    for thread in threads:
        thread.join()
    phase.stopped_at = time.time()
    for mine in per_client:
        phase.samples.extend(mine)
    return phase


def attach_effects(phase: LoadPhase, logged: list[dict[str, Any]]) -> int:
    """Give each result its effect time from the simulator's log; the number of results applied twice."""
    puts: dict[int, list[float]] = defaultdict(list)
    for entry in logged:
        path = entry["path"]
        if entry["method"] == "PUT" and path.startswith(_MEMBER_PUT) and 200 <= int(entry["status"]) < 300:
            puts[int(path[len(_MEMBER_PUT) :].split("/")[0])].append(float(entry["answered_at"]))
    by_member: dict[int, list[Sent]] = defaultdict(list)
    for sample in phase.samples:
        if sample.event_id is not None and sample.answer in ("accepted", "queued"):
            by_member[sample.member_id].append(sample)
    doubles = 0
    for member_id, results in by_member.items():
        results.sort(key=lambda sample: sample.event_id or 0)
        effects = sorted(puts.get(member_id, []))
        doubles += max(0, len(effects) - len(results))
        for sample, effect_at in zip(results, effects, strict=False):
            sample.effect_at = effect_at
    return doubles


def load_figures(phase: LoadPhase, logged: list[dict[str, Any]], final_statuses: dict[str, int]) -> dict[str, Any]:
    """answers/s, effects/s, effect p50/p95/p99, what was still waiting at the load's end and 2 s later."""
    doubles = attach_effects(phase, logged)
    samples = phase.samples
    stored = [s for s in samples if s.event_id is not None and s.answer in ("accepted", "queued")]
    effects = [s.effect_at - s.sent_at for s in stored if s.effect_at is not None]
    ends = [s.effect_at for s in stored if s.effect_at is not None]
    wall = phase.stopped_at - phase.started_at
    effect_span = (max(ends) - phase.started_at) if ends else 0.0
    answers_per_second = len(samples) / wall if wall else 0.0
    effects_per_second = len(ends) / effect_span if effect_span else 0.0

    def waiting(at: float) -> int:
        return sum(1 for s in stored if s.effect_at is None or s.effect_at > at)

    return {
        "clients": phase.clients,
        "instances": phase.instances,
        "results": len(samples),
        "answers": dict(sorted(Counter(s.answer or f"http {s.http_status}" for s in samples).items())),
        "errors": sum(1 for s in samples if not 200 <= s.http_status < 300),
        "seconds": round(wall, 2),
        "answers_per_second": round(answers_per_second, 1),
        "answer_p50_ms": _ms(percentile([s.answer_seconds for s in samples], 50)),
        "answer_p99_ms": _ms(percentile([s.answer_seconds for s in samples], 99)),
        "effects": len(ends),
        "effects_per_second": round(effects_per_second, 1),
        "effects_share_of_answers": round(effects_per_second / answers_per_second, 3) if answers_per_second else None,
        "effect_p50_ms": _ms(percentile(effects, 50)) if effects else None,
        "effect_p95_ms": _ms(percentile(effects, 95)) if effects else None,
        "effect_p99_ms": _ms(percentile(effects, 99)) if effects else None,
        "waiting_at_stop": waiting(phase.stopped_at),
        "waiting_2s_after": waiting(phase.stopped_at + 2.0),
        "never_applied": sum(1 for s in stored if s.effect_at is None),
        "last_effect_after_stop_s": round(max(ends) - phase.stopped_at, 2) if ends else None,
        "doubles": doubles,
        "final_statuses": final_statuses,
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
