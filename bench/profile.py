"""`python -m bench.profile`: where the bridge's own time goes, request by request and result by result.

The bridge runs in this process (the app factory, a temporary SQLite store
unless `--database-url` names another, mail suppressed) and the Fabman
simulator in another, with the same latency as the benchmark. Requests go
through Flask's test client one at a time under pyinstrument, so each profile
holds the bridge's own work beside its waits for Fabman: the profile
endpoints, then failing results: the webhook's answers with the apply pool
shut (so nothing runs beside them and they are stored `queued`), then
applying those results on this thread through the retry job, as one apply
worker would. For each it prints the time per request (or
result), the part spent waiting for Fabman (`Server-Timing`, or the
simulator's own log for applying) and the functions with the most self time;
the full call trees go to `bench-results/profile-<name>.txt`.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from bench.load import Call, Lane, parse_server_timing
from bench.run import Secrets, bridge_env
from bench.scenarios import ENDPOINTS, Workload, online_courses
from bench.stores import SQLITE, StoreUnderTest, postgres
from bridge import create_app
from bridge.application import Bridge, bridge_of
from bridge.config import load_settings
from harness.launch import ROOT, SimulatorProcess

_SELF_TIME_LINE = re.compile(r"^\s*\d+\.\d+\s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200, help="profiled requests (or results) per entry")
    parser.add_argument("--top", type=int, default=12, help="functions listed per entry, by self time")
    parser.add_argument("--database-url", default=None, help="PostgreSQL to profile on (its bridge tables are dropped)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results")
    return parser.parse_args(argv)


def _send(client: Any, call: Call) -> float:
    """Send one call through the test client; the seconds Fabman took for it."""
    response = client.open(call.path, method=call.method, headers=call.headers, data=call.body)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{call.method} {call.path} answered {response.status_code}: {response.get_data(as_text=True)}")
    timing = parse_server_timing(response.headers.get("Server-Timing"))
    return timing[1] if timing else 0.0


def _profiled(name: str, label: str, count: int, work: Callable[[], float], args: argparse.Namespace) -> None:
    """Run `work` (which returns the seconds it waited for Fabman) under the profiler; print and save the profile."""
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    upstream = work()
    profiler.stop()
    per_item = (time.perf_counter() - started) / count * 1000
    upstream_ms = upstream / count * 1000
    (args.output / f"profile-{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    flat = profiler.output_text(unicode=True, flat=True, flat_time="self").splitlines()
    listed = [line for line in flat if _SELF_TIME_LINE.match(line)]
    sys.stdout.write(
        f"\n{label}: {per_item:.1f} ms each, {upstream_ms:.1f} ms waiting for Fabman, "
        f"{per_item - upstream_ms:.1f} ms the bridge's own (profiler overhead included)\n"
    )
    sys.stdout.write("\n".join(listed[: args.top]) + "\n")


def _fabman_seconds(simulator: SimulatorProcess) -> float:
    """Time the simulator spent answering the requests in its log (arrival to answer), then clear the log."""
    logged = simulator.logged_requests()
    simulator.clear_requests()
    return sum(entry["answered_at"] - entry["at"] for entry in logged)


def profile_requests(client: Any, workload: Workload, args: argparse.Namespace) -> None:
    """The profile endpoints, one request at a time."""
    for number, endpoint in enumerate(ENDPOINTS):
        factory = workload.factory(endpoint.key)
        lane = Lane(random.Random(number))
        for _ in range(10):
            _send(client, factory(lane))
        calls = [factory(lane) for _ in range(args.requests)]
        _profiled(endpoint.key, endpoint.label, len(calls), lambda calls=calls: sum(_send(client, call) for call in calls), args)


def _apply_queued(bridge: Bridge) -> int:
    """Claim and apply what is due one result at a time on this thread, as one applier does; how many."""
    applied = 0
    while events := bridge.store.inbox.claim_due(1, bridge.settings.lease_seconds, fresh_only=False, exclude=()):
        for event in events:
            bridge.apply_event(event)
            applied += 1
    return applied


def profile_results(
    bridge: Bridge, client: Any, simulator: SimulatorProcess, workload: Workload, args: argparse.Namespace
) -> None:
    """Failing results: the webhook's answers, then applying them one after another on this thread.

    The apply pool is shut first, so nothing runs beside the answers (they
    say `queued` instead of `accepted`, one read and one hand-over fewer)
    and they are then claimed and applied one by one on this thread, as one
    applier does.
    """
    bridge.applier.shutdown(0)
    lane = Lane(random.Random(99))
    for _ in range(10):
        _send(client, workload.result(lane, passed=False))
    _apply_queued(bridge)
    calls = [workload.result(lane, passed=False) for _ in range(args.requests)]
    label = "POST /add_classmarker_training (fail), the answer"
    _profiled("webhook", label, len(calls), lambda: sum(_send(client, call) for call in calls), args)
    simulator.clear_requests()

    def apply_all() -> float:
        applied = _apply_queued(bridge)
        if applied != len(calls):
            raise RuntimeError(f"{applied} of {len(calls)} results applied")
        return _fabman_seconds(simulator)

    _profiled("apply-fail", "applying a failing result (after the answer)", len(calls), apply_all, args)


def main(argv: list[str] | None = None) -> int:
    """Profile every entry and print the summary."""
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    run_secrets = Secrets.generate()
    store: StoreUnderTest = postgres(args.database_url) if args.database_url else SQLITE
    with tempfile.TemporaryDirectory(prefix="bridge-profile-") as workdir:
        with SimulatorProcess(args.members, args.latency_ms, args.output / "simulator-profile.log") as simulator:
            env = bridge_env(simulator, store.fresh(Path(workdir), "profile"), run_secrets)
            app = create_app(load_settings(env))
            logging.getLogger().setLevel(logging.WARNING)  # the summaries, not a log line per request (~0.1 ms each)
            bridge = bridge_of(app)
            client = app.test_client()
            workload = Workload(
                members=args.members,
                online=online_courses(simulator.base_url, f"Bearer {simulator.api_key}"),
                api_key=simulator.api_key,
                webhook_secret=run_secrets.webhook_secret,
                fernet_key=run_secrets.fernet_key,
            )
            try:
                profile_requests(client, workload, args)
                profile_results(bridge, client, simulator, workload, args)
            finally:
                bridge.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
