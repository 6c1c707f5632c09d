"""`make bench`: the bridge under gunicorn against the Fabman simulator, on SQLite and PostgreSQL side by side.

Usage: `python -m bench.run [--quick] [--latency-ms 20] [--members 5000]
[--sweep-members 20000] [--concurrency 8] [--result-levels 8,16]
[--duration 8] [--warmup 1.5] [--levels 1,4,8,16] [--workers 2] [--threads 8]
[--apply-workers N] [--postgres-url URL | --no-postgres] [--no-sweep]
[--output bench-results/latest.json]`.

One pass per store, each with a fresh simulator (seeded account, fixed
latency per API request) and a fresh bridge (gunicorn, 2 workers x 8
threads, an empty store, mail suppressed, the retry job on, the daily sweep
and the weekly digest off so they cannot start mid-run):
1. a bare Fabman round trip (one client reading a member straight from the
   simulator), the yardstick of the profile endpoints;
2. on the first store only (they never touch the store): the profile
   endpoints with 1 client and with `--concurrency` clients, Fabman requests
   counted in the simulator's log, then one of them at growing concurrency;
3. results end to end (bench.effects): clients that send a result and wait
   until it is applied; with 1 client (pausing 50 ms after each, so every
   result finds the bridge idle), the time from sending to the end of the
   last Fabman write (time to effect), failing and passing; with
   `--result-levels` clients, applied results per second against the I/O
   bound, and the bridge's CPU per result;
4. webhook answers: 1 client and `--concurrency` clients sending failing
   results back to back (answer latency and answers per second; what does not
   fit the apply pool is answered `queued` and left to the retry job), then
   a wait until every accepted result is applied;
then the expiry sweep (a dry run, then the real one) over `--members` and
`--sweep-members` members, on SQLite. PostgreSQL is `--postgres-url`
(BENCH_POSTGRES_URL; the bridge's tables there are dropped before the pass);
when it does not answer the run says so loudly and measures SQLite only.
Each figure is judged against its target (bench.report) as PASS or MISS; the
exit status is 0 either way, since the figures are the result.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import math
import os
import platform
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from cryptography.fernet import Fernet

from bench.effects import effect_figures, run_results
from bench.load import Call, Lane, Phase, run_phase
from bench.processes import CpuSnapshot, cpu_seconds, machine_cpu, memory
from bench.queue import load_figures, run_load
from bench.report import judge, render
from bench.scenarios import ENDPOINTS, RESULTS, Endpoint, Workload, online_courses
from bench.stores import SQLITE, AppliedWatcher, StoreUnderTest, postgres, postgres_unreachable
from bridge.adapters.fabman import FabmanClient
from bridge.adapters.store import Store
from bridge.domain import courses
from bridge.domain.calendar import today_in
from harness.launch import ROOT, GunicornBridge, SimulatorProcess
from harness.wait import WaitTimedOut, wait_until

TIMEZONE = "Europe/Prague"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/bench"
SCALING_ENDPOINT = "absolved"
IDLE_PAUSE_SECONDS = 0.05
"""With 1 client, the pause after each applied result, so the next one finds the bridge idle (its mail sent)."""
SETTLE_SECONDS = 60.0
_LOADED_AT = time.monotonic()


@dataclass(frozen=True)
class Secrets:
    """Fresh credentials for one run; none of them leaves the run."""

    fernet_key: str
    webhook_secret: str
    cron_token: str
    secret_key: str
    evidence_signing_key: str

    @classmethod
    def generate(cls) -> Secrets:
        """New random values."""
        signing = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        return cls(Fernet.generate_key().decode("ascii"), *(secrets.token_urlsafe(24) for _ in range(3)), signing)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; `--quick` shrinks every size for a smoke run."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated Fabman latency per request")
    parser.add_argument("--members", type=int, default=None, help="members in the account (default 5000)")
    parser.add_argument("--sweep-members", type=int, default=None, help="members of the large sweep (default 20000)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the loaded phases (webhook answers, profile)")
    parser.add_argument("--result-levels", default="8,16", help="clients of the applied-results phases")
    parser.add_argument("--duration", type=float, default=None, help="seconds per phase (default 8; some take half)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of warm-up before the phases (default 1.5)")
    parser.add_argument("--levels", default="1,4,8,16", help="client counts of the profile endpoint's throughput phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument(
        "--fabman-concurrency", type=int, default=None, help="FABMAN_CONCURRENCY of the bridge (default: its own)"
    )
    parser.add_argument("--load-levels", default="8,32", help="clients of the open load phases (issue 20's figures)")
    parser.add_argument(
        "--only-load",
        action="store_true",
        help="only the sequential result, the 1-client answers and the open load phases (and no sweep)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL to measure on; its bridge tables are dropped (default BENCH_POSTGRES_URL or {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="measure on SQLite only")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "latest.json")
    parser.add_argument("--no-sweep", action="store_true", help="skip the expiry sweeps (for quick comparisons)")
    parser.add_argument("--quick", action="store_true", help="small sizes and short phases (a smoke run, about a minute)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.members = args.members or (400 if quick else 5000)
    args.sweep_members = args.sweep_members or (800 if quick else 20000)
    args.duration = args.duration or (1.2 if quick else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (0.4 if quick else 1.5)
    args.levels = _levels(args.levels)
    args.result_levels = _levels(args.result_levels)
    args.load_levels = _levels(args.load_levels)
    if args.only_load:
        args.no_sweep = True
    return args


def _levels(raw: str) -> list[int]:
    return [int(level) for level in raw.split(",") if level.strip()]


def bridge_env(simulator: SimulatorProcess, database_url: str, run_secrets: Secrets) -> dict[str, str]:
    """The bridge's environment: production mode, wired to the simulator, mail suppressed.

    The daily sweep and the weekly digest are off: on an empty store each is
    due at once, and a sweep of the whole account would run under every
    phase. The bench runs the sweep itself, through the cron endpoint, when
    it measures it; the retry job stays on, as deployed.
    """
    return {
        "BE_ENV": "prod",
        "FABMAN_API_KEY": simulator.api_key,
        "FABMAN_API_URL": simulator.base_url,
        "FERNET_KEY": run_secrets.fernet_key,
        "CLASSMARKER_WEBHOOK_SECRET": run_secrets.webhook_secret,
        "CRONJOB_TOKEN": run_secrets.cron_token,
        "SECRET_KEY": run_secrets.secret_key,
        "DATABASE_URL": database_url,
        "MAIL_SUPPRESS_SEND": "true",
        "TRACK_TIME": "true",
        "TIMEZONE": TIMEZONE,
        "SWEEP_AT": "off",
        "DIGEST_WEEKDAY": "off",
        "EVIDENCE_SIGNING_KEY": run_secrets.evidence_signing_key,
        "CHECKPOINT_AT": "off",
        "PAYLOAD_RETENTION_DAYS": "off",
        "MAIL_RETENTION_DAYS": "off",
    }


# -- measuring ---------------------------------------------------------------


def _fabman_counts(logged: list[dict[str, Any]]) -> Counter[str]:
    """Logged API requests by kind: course-list refreshes apart, the rest by method."""
    kinds: Counter[str] = Counter()
    for entry in logged:
        if entry["method"] == "GET" and entry["path"] == "/training-courses":
            kinds["course_list"] += 1
        elif entry["method"] == "GET" and entry["path"] == "/members":
            kinds["member_pages"] += 1
        else:
            kinds[entry["method"]] += 1
    return kinds


def _phase_figures(phase: Phase) -> dict[str, Any]:
    return {
        "concurrency": phase.concurrency,
        "requests": phase.count,
        "seconds": round(phase.wall_seconds, 2),
        "requests_per_second": round(phase.requests_per_second, 1),
        "p50_ms": round(phase.latency_ms(50), 1),
        "p95_ms": round(phase.latency_ms(95), 1),
        "p99_ms": round(phase.latency_ms(99), 1),
        "own_p50_ms": _rounded(phase.own_ms(50)),
        "errors": phase.errors,
        "statuses": phase.statuses,
    }


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def measure_round_trip(simulator: SimulatorProcess, args: argparse.Namespace) -> dict[str, Any]:
    """One client reading members (with trainings, as the profile endpoints do) straight from the simulator."""
    headers = {"Authorization": f"Bearer {simulator.api_key}"}

    def read_member(lane: Lane) -> Call:
        return Call("GET", f"/api/v1/members/{lane.member(args.members)}?embed=trainings", headers)

    phase = run_phase("127.0.0.1", simulator.port, read_member, concurrency=1, duration=min(3.0, args.duration / 2), seed=1)
    simulator.clear_requests()
    return _phase_figures(phase)


def measure_endpoint(
    simulator: SimulatorProcess,
    bridge: GunicornBridge,
    workload: Workload,
    endpoint: Endpoint,
    args: argparse.Namespace,
    round_trip_ms: float,
) -> dict[str, Any]:
    """One profile endpoint alone (latency without queueing), then at `--concurrency` (throughput).

    Fabman requests are counted in the simulator's log over both phases.
    """
    factory = workload.factory(endpoint.key)
    number = ENDPOINTS.index(endpoint)
    run_phase("127.0.0.1", bridge.port, factory, concurrency=args.concurrency, duration=args.warmup, seed=200 + number)
    simulator.clear_requests()
    alone = run_phase("127.0.0.1", bridge.port, factory, concurrency=1, duration=args.duration / 2, seed=300 + number)
    loaded = run_phase("127.0.0.1", bridge.port, factory, concurrency=args.concurrency, duration=args.duration, seed=100 + number)
    kinds = _fabman_counts(simulator.logged_requests())
    total, requests_made = sum(kinds.values()), alone.count + loaded.count
    per_request = (total - kinds["course_list"]) / requests_made if requests_made else math.nan
    return {
        "label": endpoint.label,
        "alone": _phase_figures(alone),
        "loaded": _phase_figures(loaded),
        "fabman_requests": total,
        "fabman_per_request": round(per_request, 3),
        "fabman_max_per_request": max(alone.max_fabman_calls() or 0, loaded.max_fabman_calls() or 0),
        "course_list_refreshes": kinds["course_list"],
        "fabman_by_method": {kind: n for kind, n in sorted(kinds.items()) if kind != "course_list"},
        "unavoidable_calls": endpoint.unavoidable_calls,
        "target_calls": endpoint.target_calls,
        "p50_target_ms": round(round_trip_ms + PROFILE_ALLOWANCE_MS, 1),
    }


PROFILE_ALLOWANCE_MS = 5.0
"""A profile endpoint's p50 may exceed one bare Fabman round trip by this much."""


def measure_scaling(
    simulator: SimulatorProcess, bridge: GunicornBridge, workload: Workload, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Throughput of one profile endpoint as clients are added, with the CPU each process (and the machine) used."""
    factory = workload.factory(SCALING_ENDPOINT)
    levels = []
    for level in args.levels:
        run_phase("127.0.0.1", bridge.port, factory, concurrency=level, duration=args.warmup / 2, seed=400 + level)
        workers = bridge.worker_pids()
        before = [cpu_seconds(pid) for pid in workers], cpu_seconds(simulator.pid), time.process_time(), machine_cpu()
        phase = run_phase("127.0.0.1", bridge.port, factory, concurrency=level, duration=args.duration, seed=500 + level)
        after = [cpu_seconds(pid) for pid in workers], cpu_seconds(simulator.pid), time.process_time(), machine_cpu()
        wall = phase.wall_seconds
        busy, elapsed = after[3][0] - before[3][0], after[3][1] - before[3][1]
        levels.append(
            {
                **_phase_figures(phase),
                "bridge_cpu_percent": round(100 * (sum(after[0]) - sum(before[0])) / wall, 1),
                "simulator_cpu_percent": round(100 * (after[1] - before[1]) / wall, 1),
                "generator_cpu_percent": round(100 * (after[2] - before[2]) / wall, 1),
                "machine_busy_percent": round(100 * busy / elapsed, 1) if elapsed else None,
            }
        )
    base = levels[0]["requests_per_second"] / levels[0]["concurrency"] if levels else 0.0
    for entry in levels:
        entry["efficiency"] = round(entry["requests_per_second"] / (entry["concurrency"] * base), 2) if base else None
    return levels


def measure_results(
    simulator: SimulatorProcess,
    bridge: GunicornBridge,
    workload: Workload,
    watcher: AppliedWatcher,
    args: argparse.Namespace,
    *,
    kind: Endpoint,
    clients: int,
    duration: float,
    seed: int,
) -> dict[str, Any]:
    """Clients that each send a result and wait until it is applied (bench.effects), with the CPU used.

    The bridge's CPU per applied result (answer, applying, mail, bookkeeping)
    says how many results a second the machine's cores could carry at best.
    """
    simulator.clear_requests()
    pids = _cpu_pids(bridge, simulator)
    before = CpuSnapshot.take(pids)
    phase = run_results(
        "127.0.0.1",
        bridge.port,
        workload,
        watcher,
        clients=clients,
        duration=duration,
        passed=kind.key == "pass",
        seed=seed,
        pause=IDLE_PAUSE_SECONDS if clients == 1 else 0.0,
    )
    after = CpuSnapshot.take(pids)
    figures = effect_figures(
        phase, simulator.logged_requests(), latency_ms=args.latency_ms, calls_per_result=kind.unavoidable_calls
    )
    figures.update(
        kind=kind.key,
        target_calls=kind.target_calls,
        effect_target_ms=kind.unavoidable_calls * args.latency_ms + EFFECT_ALLOWANCE_MS,
        **_cpu_figures(before, after, simulator, figures["seconds_until_all_applied"], figures["applied"]),
    )
    return figures


def _cpu_pids(bridge: GunicornBridge, simulator: SimulatorProcess) -> list[int]:
    """The processes whose CPU a phase reads: gunicorn's workers, the simulator, and this load generator."""
    return [*bridge.worker_pids(), simulator.pid, os.getpid()]


def _cpu_figures(before: CpuSnapshot, after: CpuSnapshot, simulator: SimulatorProcess, wall: float, items: int) -> dict[str, Any]:
    """CPU of each gunicorn worker, the simulator and the generator over `wall` s (% of one core), and per item (ms).

    `cpu_bound_per_second` is how many items a second the bridge could carry
    at that cost if it had all of this machine's cores to itself (in the
    bench it shares them with the simulator, the load generator and others).
    """
    used = after.seconds_since(before)
    simulator_seconds = used.pop(simulator.pid, 0.0)
    generator_seconds = used.pop(os.getpid(), 0.0)
    bridge_seconds = sum(used.values())
    busy = after.machine_busy_since(before)
    cpus = os.cpu_count() or 1
    return {
        "bridge_cpu_percent": round(100 * bridge_seconds / wall, 1) if wall else None,
        "worker_cpu_percent": [round(100 * seconds / wall, 1) for seconds in used.values()] if wall else [],
        "simulator_cpu_percent": round(100 * simulator_seconds / wall, 1) if wall else None,
        "generator_cpu_percent": round(100 * generator_seconds / wall, 1) if wall else None,
        "bridge_cpu_ms_each": round(1000 * bridge_seconds / items, 2) if items else None,
        "simulator_cpu_ms_each": round(1000 * simulator_seconds / items, 2) if items else None,
        "generator_cpu_ms_each": round(1000 * generator_seconds / items, 2) if items else None,
        "cpu_bound_per_second": round(cpus * items / bridge_seconds, 1) if bridge_seconds and items else None,
        "machine_busy_percent": round(100 * busy, 1) if busy is not None else None,
    }


EFFECT_ALLOWANCE_MS = 10.0
"""Time to effect may exceed the Fabman calls a result cannot avoid (calls x latency) by this much."""


def settle(watcher: AppliedWatcher) -> float | None:
    """Wait until no worker holds an event (what the last phase accepted is applied); the seconds it took.

    Results answered `queued` stay for the retry job and are not waited for.
    None when the bridge did not settle within SETTLE_SECONDS (the next phase then starts anyway).
    """
    started = time.monotonic()
    try:
        wait_until(lambda: watcher.being_applied() == 0, timeout=SETTLE_SECONDS, what="accepted results applied")
    except WaitTimedOut as timed_out:
        _progress(f"not settled: {timed_out}")
        return None
    return round(time.monotonic() - started, 2)


def measure_answers(
    simulator: SimulatorProcess,
    bridge: GunicornBridge,
    workload: Workload,
    watcher: AppliedWatcher,
    *,
    clients: int,
    duration: float,
    seed: int,
) -> dict[str, Any]:
    """Clients sending failing results back to back: how fast the webhook answers, never waiting for the effect.

    The CPU figures include applying the accepted results, which runs beside the answers.
    """
    pids = _cpu_pids(bridge, simulator)
    before = CpuSnapshot.take(pids)
    phase = run_phase(
        "127.0.0.1", bridge.port, workload.factory("fail"), concurrency=clients, duration=duration, seed=seed, read_answers=True
    )
    after = CpuSnapshot.take(pids)
    return {
        **_phase_figures(phase),
        "answers": phase.answers,
        "fabman_max_per_answer": phase.max_fabman_calls(),
        **_cpu_figures(before, after, simulator, phase.wall_seconds, phase.count),
        "seconds_until_accepted_applied": settle(watcher),
    }


LOAD_SETTLE_SECONDS = 30.0
"""After an open load phase, how long the bench waits for the last effects before it counts them."""


def measure_load(
    store: StoreUnderTest,
    simulator: SimulatorProcess,
    bridge: GunicornBridge,
    workload: Workload,
    url: str,
    args: argparse.Namespace,
    logs: Path,
    run_secrets: Secrets,
) -> list[dict[str, Any]]:
    """Issue 20: `--load-levels` clients sending results back to back; on PostgreSQL over two instances.

    SQLite is one instance (its file is local to one host); PostgreSQL gets a
    second bridge on the same database, and client i talks to instance i mod 2.
    """
    figures = []
    second = None
    if store.key == "postgresql":
        env = bridge_env(simulator, url, run_secrets)
        second = gunicorn(env, args, logs / f"gunicorn-{store.key}-b.log").__enter__()
    try:
        ports = [bridge.port] + ([second.port] if second is not None else [])
        checker = Store(url)
        try:
            for number, clients in enumerate(args.load_levels):
                _progress(f"{store.label}: open load, {clients} clients on {len(ports)} instance(s)")
                simulator.clear_requests()
                phase = run_load(ports, workload, clients=clients, duration=args.duration, seed=800 + number)
                try:
                    wait_until(
                        lambda: checker.inbox.counts().get("queued", 0) == 0,
                        timeout=LOAD_SETTLE_SECONDS,
                        what="every result of the load applied",
                    )
                except WaitTimedOut as timed_out:
                    _progress(f"not settled: {timed_out}")
                figures.append(load_figures(phase, simulator.logged_requests(), checker.inbox.counts()))
        finally:
            checker.dispose()
    finally:
        if second is not None:
            second.__exit__(None, None, None)
    return figures


def expired_records(simulator: SimulatorProcess) -> tuple[int, int]:
    """(member pages, expired training records) as the bench itself counts them, before the sweep."""
    client = FabmanClient(simulator.base_url, f"Bearer {simulator.api_key}")
    today = today_in(ZoneInfo(TIMEZONE))
    pages = expired = 0
    try:
        for page in client.iter_member_pages(trainings=True):
            pages += 1
            expired += sum(1 for member in page for record in member.trainings or () if not courses.is_active(record, today))
    finally:
        client.close()
    return pages, expired


def _sweep_once(
    simulator: SimulatorProcess, bridge: GunicornBridge, cron_token: str, *, dry_run: bool
) -> tuple[requests.Response, float, Counter[str], list[dict[str, Any]]]:
    simulator.clear_requests()
    started = time.perf_counter()
    response = requests.post(
        bridge.url + "/cron/expire_trainings",
        params={"dry_run": "true"} if dry_run else None,
        headers={"CronjobToken": cron_token},
        timeout=1800,
    )
    wall = time.perf_counter() - started
    logged = simulator.logged_requests()
    return response, wall, _fabman_counts(logged), logged


def measure_sweep(simulator: SimulatorProcess, bridge: GunicornBridge, cron_token: str, latency_ms: float) -> dict[str, Any]:
    """The expiry sweep over the whole account: a dry run, then the real one."""
    members = simulator.members
    pages, expired = expired_records(simulator)
    figures: dict[str, Any] = {"members": members, "expected_member_pages": pages, "expected_deletes": expired}
    response, wall, kinds, _ = _sweep_once(simulator, bridge, cron_token, dry_run=True)
    if response.status_code == 404:
        figures["available"] = False
        figures["detail"] = "POST /cron/expire_trainings does not exist in this build"
        return figures
    figures.update(
        available=True,
        dry_run={
            "status": response.status_code,
            "seconds": round(wall, 2),
            "member_pages": kinds["member_pages"],
            "fabman_by_kind": dict(kinds),
            "summary": _json_or_text(response),
        },
    )
    response, wall, kinds, logged = _sweep_once(simulator, bridge, cron_token, dry_run=False)
    deletes = sorted(entry["at"] for entry in logged if entry["method"] == "DELETE")
    delete_span = deletes[-1] - deletes[0] if len(deletes) > 1 else 0.0
    delete_rate = (len(deletes) - 1) / delete_span if delete_span > 0 else None
    figures.update(
        status=response.status_code,
        seconds=round(wall, 2),
        seconds_per_1000_members=round(wall / (members / 1000), 2),
        member_pages=kinds["member_pages"],
        deletes=kinds["DELETE"],
        other_fabman=sum(n for kind, n in kinds.items() if kind not in ("member_pages", "DELETE")),
        fabman_by_kind=dict(kinds),
        deletes_per_second=_rounded(delete_rate),
        delete_concurrency=_rounded(delete_rate * latency_ms / 1000 if delete_rate else None),
        summary=_json_or_text(response),
    )
    return figures


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def gunicorn(env: dict[str, str], args: argparse.Namespace, log_path: Path) -> GunicornBridge:
    """The bridge under gunicorn as the run's options size it; a worker may work 300 s on one sweep."""
    if args.fabman_concurrency is not None:
        env = {**env, "FABMAN_CONCURRENCY": str(args.fabman_concurrency)}
    return GunicornBridge(env, workers=args.workers, threads=args.threads, timeout=300, log_path=log_path, ready_timeout=60)


def worker_memory(bridge: GunicornBridge) -> dict[int, dict[str, float]]:
    """RSS and peak RSS (MiB) of each gunicorn worker now."""
    return {pid: vars(memory(pid)) for pid in bridge.worker_pids()}


# -- the run ---------------------------------------------------------------------


def measure_store(
    store: StoreUnderTest, report: dict[str, Any], args: argparse.Namespace, workdir: Path, run_secrets: Secrets, *, first: bool
) -> dict[str, Any]:
    """One pass on one store: round trip, (profile endpoints,) results end to end, webhook answers, memory."""
    logs = args.output.parent
    figures: dict[str, Any] = {"label": store.label, "measured": True, "results": [], "answers": []}
    _progress(f"{store.label}: starting the simulator ({args.members} members) and gunicorn")
    with SimulatorProcess(args.members, args.latency_ms, logs / f"simulator-{store.key}.log") as simulator:
        url = store.fresh(workdir, store.key)
        with (
            gunicorn(bridge_env(simulator, url, run_secrets), args, logs / f"gunicorn-{store.key}.log") as bridge,
            AppliedWatcher(url) as watcher,
        ):
            workload = Workload(
                members=args.members,
                online=online_courses(simulator.base_url, f"Bearer {simulator.api_key}"),
                api_key=simulator.api_key,
                webhook_secret=run_secrets.webhook_secret,
                fernet_key=run_secrets.fernet_key,
            )
            figures["round_trip"] = measure_round_trip(simulator, args)
            _progress(f"{store.label}: warming up")
            if first:
                for endpoint in ENDPOINTS:
                    run_phase("127.0.0.1", bridge.port, workload.factory(endpoint.key), concurrency=16, duration=args.warmup)
            run_results("127.0.0.1", bridge.port, workload, watcher, clients=8, duration=args.warmup, passed=False, seed=7)
            start_memory = worker_memory(bridge)
            if first and not args.only_load:
                for endpoint in ENDPOINTS:
                    _progress(f"{store.label}: measuring {endpoint.label}")
                    report["endpoints"][endpoint.key] = measure_endpoint(
                        simulator, bridge, workload, endpoint, args, figures["round_trip"]["p50_ms"]
                    )
                _progress(f"{store.label}: measuring {SCALING_ENDPOINT} at {args.levels} clients")
                report["scaling"] = measure_scaling(simulator, bridge, workload, args)
            runs = [(kind, 1, args.duration if kind.key == "fail" else args.duration / 2) for kind in RESULTS]
            if args.only_load:
                runs = runs[:1]
            else:
                runs += [(RESULTS[0], clients, args.duration) for clients in args.result_levels]
            for number, (kind, clients, duration) in enumerate(runs):
                _progress(f"{store.label}: {kind.label}, {clients} client(s) waiting for each effect")
                figures["results"].append(
                    measure_results(
                        simulator,
                        bridge,
                        workload,
                        watcher,
                        args,
                        kind=kind,
                        clients=clients,
                        duration=duration,
                        seed=600 + number,
                    )
                )
            answer_phases = [(1, args.duration / 2)] + ([] if args.only_load else [(args.concurrency, args.duration)])
            for number, (clients, duration) in enumerate(answer_phases):
                _progress(f"{store.label}: webhook answers, {clients} client(s) back to back")
                figures["answers"].append(
                    measure_answers(simulator, bridge, workload, watcher, clients=clients, duration=duration, seed=700 + number)
                )
            figures["load"] = measure_load(store, simulator, bridge, workload, url, args, logs, run_secrets)
            end_memory = worker_memory(bridge)
            figures["watcher"] = {
                "polls": watcher.polls,
                "failed_polls": watcher.failed_polls,
                "last_failure": watcher.last_failure,
            }
    figures["memory"] = [
        {
            "pid": pid,
            "start_rss_mib": round(start_memory[pid]["rss_mib"], 1),
            "end_rss_mib": round(end_memory[pid]["rss_mib"], 1),
            "peak_mib": round(end_memory[pid]["peak_mib"], 1),
        }
        for pid in sorted(set(start_memory) & set(end_memory))
    ]
    return figures


def measure_sweeps(args: argparse.Namespace, workdir: Path, run_secrets: Secrets) -> list[dict[str, Any]]:
    """The expiry sweep over each account size, each on a fresh simulator and bridge (SQLite)."""
    sweeps = []
    for members in dict.fromkeys((args.members, args.sweep_members)):
        _progress(f"sweeping {members} members")
        log = args.output.parent / f"simulator-sweep-{members}.log"
        with SimulatorProcess(members, args.latency_ms, log) as simulator:
            env = bridge_env(simulator, SQLITE.fresh(workdir, f"sweep-{members}"), run_secrets)
            with gunicorn(env, args, args.output.parent / f"gunicorn-sweep-{members}.log") as bridge:
                sweeps.append(measure_sweep(simulator, bridge, run_secrets.cron_token, args.latency_ms))
    return sweeps


def stores_to_measure(args: argparse.Namespace, report: dict[str, Any]) -> list[StoreUnderTest]:
    """SQLite, and PostgreSQL unless it is switched off or does not answer (then said loudly)."""
    if args.no_postgres:
        report["stores"]["postgresql"] = {"label": "PostgreSQL", "measured": False, "reason": "switched off (--no-postgres)"}
        return [SQLITE]
    reason = postgres_unreachable(args.postgres_url)
    if reason is None:
        return [SQLITE, postgres(args.postgres_url)]
    where = _without_password(args.postgres_url)
    report["stores"]["postgresql"] = {"label": "PostgreSQL", "measured": False, "reason": f"{where} does not answer: {reason}"}
    banner = "!" * 78
    sys.stderr.write(
        f"{banner}\n!! PostgreSQL at {where} does not answer: {reason}\n"
        f"!! Measuring on SQLite ONLY. Set BENCH_POSTGRES_URL (or --postgres-url) to a database the bench may\n"
        f"!! drop the bridge's tables in, e.g. after `createdb -h 127.0.0.1 -U postgres bench`.\n{banner}\n"
    )
    return [SQLITE]


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':', 1)[0]}{at}{host}" if at else url


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the report (also written as JSON)."""
    started = time.monotonic()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    run_secrets = Secrets.generate()
    report: dict[str, Any] = {
        "settings": {
            "mode": "quick" if args.quick else "full",
            "members": args.members,
            "sweep_members": args.sweep_members,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "result_levels": args.result_levels,
            "duration": args.duration,
            "levels": args.levels,
            "workers": args.workers,
            "threads": args.threads,
            "fabman_concurrency": args.fabman_concurrency or "bridge default",
            "load_levels": args.load_levels,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "output": str(args.output),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "stores": {},
        "endpoints": {},
        "scaling": [],
        "sweeps": [],
    }
    measured = stores_to_measure(args, report)
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as workdir:
        for number, store in enumerate(measured):
            report["stores"][store.key] = measure_store(store, report, args, Path(workdir), run_secrets, first=number == 0)
        report["stores"] = {key: report["stores"][key] for key in ("sqlite", "postgresql") if key in report["stores"]}
        if not args.no_sweep:
            report["sweeps"] = measure_sweeps(args, Path(workdir), run_secrets)
    report["targets"] = judge(report)
    report["runtime_seconds"] = round(time.monotonic() - started, 1)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _progress(message: str) -> None:
    sys.stderr.write(f"[bench {time.monotonic() - _LOADED_AT:6.1f} s] {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run, print the tables; exit 0 whatever the verdicts (the figures are the result)."""
    report = run(parse_args(argv))
    sys.stdout.write(render(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
