"""`make bench`: measure the bridge under gunicorn against the Fabman simulator, print a table, write JSON.

Usage: `python -m bench.run [--quick] [--latency-ms 20] [--members 5000]
[--sweep-members 20000] [--concurrency 8] [--duration 8] [--warmup 1.5]
[--levels 1,4,8,16] [--workers 2] [--threads 8] [--database-url URL]
[--no-sweep] [--output bench-results/latest.json]`.

Steps: start the simulator (seeded account, fixed latency per API request)
and the bridge (gunicorn, 2 workers x 8 threads, a fresh SQLite store, mail
suppressed), warm both up, then per endpoint one client alone for half of
`--duration` (latency without queueing; the p50 target is judged here) and
`--concurrency` clients for `--duration` (throughput and latency under load),
counting Fabman requests in the simulator's own log; then the throughput of
one endpoint at growing concurrency with the CPU each process used; then the
expiry sweep (a dry run, then the real one) over the same account and over a
second one of `--sweep-members` members. Each figure is judged against the
targets of the benchmark issue and marked PASS or MISS; the exit status is 0
either way, since the figures are the result.
"""

from __future__ import annotations

import argparse
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

from bench.load import Phase, run_phase
from bench.processes import cpu_seconds, machine_cpu, memory
from bench.scenarios import ENDPOINTS, Endpoint, Workload, online_courses
from bridge.adapters.fabman import FabmanClient
from bridge.domain import courses
from bridge.domain.calendar import today_in
from harness.launch import ROOT, GunicornBridge, SimulatorProcess

TIMEZONE = "Europe/Prague"
OWN_TIME_ALLOWANCE_MS = 10.0
SCALING_ENDPOINT = "absolved"
MIN_SCALING_EFFICIENCY = 0.8
MAX_RSS_GROWTH = 0.10
_LOADED_AT = time.monotonic()


@dataclass(frozen=True)
class Secrets:
    """Fresh credentials for one run; none of them leaves the run."""

    fernet_key: str
    webhook_secret: str
    cron_token: str
    secret_key: str

    @classmethod
    def generate(cls) -> Secrets:
        """New random values."""
        return cls(Fernet.generate_key().decode("ascii"), *(secrets.token_urlsafe(24) for _ in range(3)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; `--quick` shrinks every size for a smoke run."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated Fabman latency per request")
    parser.add_argument("--members", type=int, default=None, help="members in the account (default 5000)")
    parser.add_argument("--sweep-members", type=int, default=None, help="members of the large sweep (default 20000)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients per endpoint phase")
    parser.add_argument("--duration", type=float, default=None, help="seconds per loaded phase (default 8; 1 client: half)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of warm-up before each phase (default 1.5)")
    parser.add_argument("--levels", default="1,4,8,16", help="client counts of the throughput phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--database-url", default=None, help="the bridge's store (default: a fresh temporary SQLite file)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "latest.json")
    parser.add_argument("--no-sweep", action="store_true", help="skip the expiry sweeps (for quick comparisons)")
    parser.add_argument("--quick", action="store_true", help="small sizes and short phases (CI smoke run, < 1 min)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.members = args.members or (400 if quick else 5000)
    args.sweep_members = args.sweep_members or (800 if quick else 20000)
    args.duration = args.duration or (1.2 if quick else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (0.4 if quick else 1.5)
    args.levels = [int(level) for level in args.levels.split(",") if level.strip()]
    return args


def bridge_env(simulator: SimulatorProcess, database_url: str, run_secrets: Secrets) -> dict[str, str]:
    """The bridge's environment: production mode, wired to the simulator, mail suppressed."""
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


def measure_endpoint(
    simulator: SimulatorProcess, bridge: GunicornBridge, workload: Workload, endpoint: Endpoint, args: argparse.Namespace
) -> dict[str, Any]:
    """One endpoint alone (latency without queueing), then at the fixed concurrency (throughput).

    Fabman requests are counted in the simulator's log over both phases. Each
    endpoint draws its own members and courses, so one endpoint's phase never
    replays another's (a pass right after a fail of the same quiz costs an
    extra metadata write).
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
        "p50_target_ms": endpoint.unavoidable_calls * args.latency_ms + OWN_TIME_ALLOWANCE_MS,
    }


def measure_scaling(
    simulator: SimulatorProcess, bridge: GunicornBridge, workload: Workload, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Throughput of one endpoint as clients are added, with the CPU each process (and the machine) used."""
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
    return GunicornBridge(env, workers=args.workers, threads=args.threads, timeout=300, log_path=log_path, ready_timeout=60)


def worker_memory(bridge: GunicornBridge) -> dict[int, dict[str, float]]:
    """RSS and peak RSS (MiB) of each gunicorn worker now."""
    return {pid: vars(memory(pid)) for pid in bridge.worker_pids()}


# -- judging and printing -------------------------------------------------------


def judge(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue beside the figure measured, PASS or MISS."""
    verdicts: list[dict[str, Any]] = []

    def add(name: str, figure: Any, target: str, ok: bool) -> None:
        verdicts.append({"target": name, "figure": figure, "goal": target, "verdict": "PASS" if ok else "MISS"})

    for key, figures in report["endpoints"].items():
        limit = figures["target_calls"]
        add(
            f"{key}: Fabman requests per call",
            figures["fabman_per_request"],
            f"<= {limit}",
            figures["fabman_per_request"] <= limit,
        )
        goal = figures["p50_target_ms"]
        alone, loaded = figures["alone"], figures["loaded"]
        add(f"{key}: p50 latency, 1 client (ms)", alone["p50_ms"], f"<= {goal:g}", alone["p50_ms"] <= goal)
        add(f"{key}: errors", alone["errors"] + loaded["errors"], "0", alone["errors"] + loaded["errors"] == 0)
    below = [level for level in report["scaling"] if 1 < level["concurrency"] < 16]
    if below:
        worst = min(level["efficiency"] or 0.0 for level in below)
        add(
            "throughput scales below 16 clients (worst efficiency)",
            worst,
            f">= {MIN_SCALING_EFFICIENCY}",
            worst >= MIN_SCALING_EFFICIENCY,
        )
    for sweep in report["sweeps"]:
        if not sweep.get("available"):
            add(f"sweep {sweep['members']}: exists", "no endpoint", "POST /cron/expire_trainings", False)
            continue
        name = f"sweep {sweep['members']} members"
        expected = f"{sweep['expected_member_pages']} pages + {sweep['expected_deletes']} deletes"
        got = f"{sweep['member_pages']} pages + {sweep['deletes']} deletes + {sweep['other_fabman']} other"
        ok = (
            sweep["status"] == 200
            and sweep["member_pages"] == sweep["expected_member_pages"]
            and sweep["deletes"] == sweep["expected_deletes"]
            and sweep["other_fabman"] == 0
        )
        add(f"{name}: Fabman requests", got, expected, ok)
    growth = [(m["end_rss_mib"] - m["start_rss_mib"]) / m["start_rss_mib"] for m in report["memory"]["workers"]]
    if growth:
        add("worker RSS growth over the run", f"{max(growth):+.1%}", f"<= {MAX_RSS_GROWTH:.0%}", max(growth) <= MAX_RSS_GROWTH)
    return verdicts


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["-" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(widths[i]) if i else cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    settings = report["settings"]
    parts = [
        f"FabLab Bridge benchmark ({settings['mode']}): {settings['members']} members, Fabman latency "
        f"{settings['latency_ms']:g} ms, gunicorn {settings['workers']} workers x {settings['threads']} threads, "
        f"{settings['cpus']} CPUs, store {settings['store']}",
        "",
        f"Endpoints: latency with 1 client ({settings['duration'] / 2:g} s), "
        f"then {settings['concurrency']} clients ({settings['duration']:g} s); own = time not spent waiting for Fabman:",
        _table(
            [
                "endpoint",
                "p50 goal",
                "p50 @1",
                "p95 @1",
                "own p50 @1",
                f"req/s @{settings['concurrency']}",
                f"p50 @{settings['concurrency']}",
                f"p95 @{settings['concurrency']}",
                f"p99 @{settings['concurrency']}",
                f"own p50 @{settings['concurrency']}",
                "fabman/req",
                "goal",
                "max",
                "requests",
                "errors",
            ],
            [
                [
                    key,
                    f["p50_target_ms"],
                    f["alone"]["p50_ms"],
                    f["alone"]["p95_ms"],
                    f["alone"]["own_p50_ms"],
                    f["loaded"]["requests_per_second"],
                    f["loaded"]["p50_ms"],
                    f["loaded"]["p95_ms"],
                    f["loaded"]["p99_ms"],
                    f["loaded"]["own_p50_ms"],
                    f["fabman_per_request"],
                    f["target_calls"],
                    f["fabman_max_per_request"],
                    f["alone"]["requests"] + f["loaded"]["requests"],
                    f["alone"]["errors"] + f["loaded"]["errors"],
                ]
                for key, f in report["endpoints"].items()
            ],
        ),
        "",
        f"Throughput of {SCALING_ENDPOINT} by concurrency ({settings['duration']:g} s each; CPU % of one core, "
        f"machine busy % of all {settings['cpus']} cores, other work on the machine included):",
        _table(
            [
                "clients",
                "req/s",
                "p50 ms",
                "p95 ms",
                "efficiency",
                "bridge cpu",
                "simulator cpu",
                "generator cpu",
                "machine busy",
            ],
            [
                [
                    s["concurrency"],
                    s["requests_per_second"],
                    s["p50_ms"],
                    s["p95_ms"],
                    s["efficiency"],
                    s["bridge_cpu_percent"],
                    s["simulator_cpu_percent"],
                    s["generator_cpu_percent"],
                    s["machine_busy_percent"],
                ]
                for s in report["scaling"]
            ],
        ),
        "",
        "Expiry sweep (POST /cron/expire_trainings):",
        _table(
            ["members", "pages", "deletes", "expected", "other", "seconds", "s/1000 members", "deletes/s", "dry run s"],
            [
                [
                    s["members"],
                    s.get("member_pages"),
                    s.get("deletes"),
                    f"{s['expected_member_pages']} + {s['expected_deletes']}",
                    s.get("other_fabman"),
                    s.get("seconds"),
                    s.get("seconds_per_1000_members"),
                    s.get("deletes_per_second"),
                    (s.get("dry_run") or {}).get("seconds"),
                ]
                for s in report["sweeps"]
            ],
        ),
        "",
        "Gunicorn worker memory (MiB):",
        _table(
            ["worker", "RSS start", "RSS end", "peak"],
            [[m["pid"], m["start_rss_mib"], m["end_rss_mib"], m["peak_mib"]] for m in report["memory"]["workers"]],
        ),
        "",
        "Targets:",
        _table(
            ["target", "figure", "goal", "verdict"],
            [[v["target"], v["figure"], v["goal"], v["verdict"]] for v in report["targets"]],
        ),
        "",
        f"Finished in {report['runtime_seconds']:.0f} s; JSON in {settings['output']}",
    ]
    return "\n".join(parts)


# -- the run ---------------------------------------------------------------------


def _database_url(args: argparse.Namespace, workdir: Path, name: str) -> str:
    return args.database_url or f"sqlite:///{workdir / name}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the report (also written as JSON)."""
    started = time.monotonic()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    logs = args.output.parent
    run_secrets = Secrets.generate()
    report: dict[str, Any] = {
        "settings": {
            "mode": "quick" if args.quick else "full",
            "members": args.members,
            "sweep_members": args.sweep_members,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "duration": args.duration,
            "levels": args.levels,
            "workers": args.workers,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "store": "custom DATABASE_URL" if args.database_url else "temporary SQLite",
            "output": str(args.output),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "endpoints": {},
        "scaling": [],
        "sweeps": [],
    }
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as workdir:
        _progress(f"starting the simulator ({args.members} members) and gunicorn")
        with SimulatorProcess(args.members, args.latency_ms, logs / "simulator.log") as simulator:
            env = bridge_env(simulator, _database_url(args, Path(workdir), "bench.sqlite3"), run_secrets)
            with gunicorn(env, args, logs / "gunicorn.log") as bridge:
                workload = Workload(
                    members=args.members,
                    online=online_courses(simulator.base_url, f"Bearer {simulator.api_key}"),
                    api_key=simulator.api_key,
                    webhook_secret=run_secrets.webhook_secret,
                    fernet_key=run_secrets.fernet_key,
                )
                _progress("warming up")
                for endpoint in ENDPOINTS:
                    run_phase("127.0.0.1", bridge.port, workload.factory(endpoint.key), concurrency=16, duration=args.warmup)
                start_memory = worker_memory(bridge)
                for endpoint in ENDPOINTS:
                    _progress(f"measuring {endpoint.label}")
                    report["endpoints"][endpoint.key] = measure_endpoint(simulator, bridge, workload, endpoint, args)
                _progress(f"measuring throughput at {args.levels} clients")
                report["scaling"] = measure_scaling(simulator, bridge, workload, args)
                end_memory = worker_memory(bridge)
                if not args.no_sweep:
                    _progress(f"sweeping {args.members} members")
                    report["sweeps"].append(measure_sweep(simulator, bridge, run_secrets.cron_token, args.latency_ms))
        report["memory"] = {
            "workers": [
                {
                    "pid": pid,
                    "start_rss_mib": round(start_memory[pid]["rss_mib"], 1),
                    "end_rss_mib": round(end_memory[pid]["rss_mib"], 1),
                    "peak_mib": round(end_memory[pid]["peak_mib"], 1),
                }
                for pid in sorted(set(start_memory) & set(end_memory))
            ]
        }
        if args.sweep_members != args.members and not args.no_sweep:
            _progress(f"sweeping {args.sweep_members} members")
            with SimulatorProcess(args.sweep_members, args.latency_ms, logs / "simulator-sweep.log") as simulator:
                env = bridge_env(simulator, _database_url(args, Path(workdir), "sweep.sqlite3"), run_secrets)
                with gunicorn(env, args, logs / "gunicorn-sweep.log") as bridge:
                    _progress("simulator and gunicorn restarted")
                    report["sweeps"].append(measure_sweep(simulator, bridge, run_secrets.cron_token, args.latency_ms))
    report["targets"] = judge(report)
    report["runtime_seconds"] = round(time.monotonic() - started, 1)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _progress(message: str) -> None:
    sys.stderr.write(f"[bench {time.monotonic() - _LOADED_AT:6.1f} s] {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run, print the table; exit 0 whatever the verdicts (the figures are the result)."""
    report = run(parse_args(argv))
    sys.stdout.write(render(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
