"""`python -m bench.profile`: where a bridge request spends its time, endpoint by endpoint.

The bridge runs in this process (the app factory, a temporary SQLite store,
mail suppressed) and the Fabman simulator in another, with the same latency
as the benchmark. Requests go through Flask's test client one at a time under
pyinstrument, so the profile holds the bridge's own work beside its waits for
Fabman. For each endpoint it prints the time per request, the part spent
waiting for Fabman (from `Server-Timing`) and the functions with the most
self time; the full call trees go to `bench-results/profile-<endpoint>.txt`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from bench.load import Call, Lane, parse_server_timing
from bench.run import Secrets, bridge_env
from bench.scenarios import ENDPOINTS, Workload, online_courses
from bridge import create_app
from bridge.application import bridge_of
from bridge.config import load_settings
from harness.launch import ROOT, SimulatorProcess

_SELF_TIME_LINE = re.compile(r"^\s*\d+\.\d+\s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200, help="profiled requests per endpoint")
    parser.add_argument("--top", type=int, default=12, help="functions listed per endpoint, by self time")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results")
    return parser.parse_args(argv)


def _send(client: object, call: Call) -> float:
    """Send one call through the test client; the seconds Fabman took for it."""
    response = client.open(call.path, method=call.method, headers=call.headers, data=call.body)  # type: ignore[attr-defined]
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{call.method} {call.path} answered {response.status_code}: {response.get_data(as_text=True)}")
    timing = parse_server_timing(response.headers.get("Server-Timing"))
    return timing[1] if timing else 0.0


def main(argv: list[str] | None = None) -> int:
    """Profile every benchmarked endpoint and print the summary."""
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    run_secrets = Secrets.generate()
    with tempfile.TemporaryDirectory(prefix="bridge-profile-") as workdir:
        with SimulatorProcess(args.members, args.latency_ms, args.output / "simulator-profile.log") as simulator:
            env = bridge_env(simulator, f"sqlite:///{Path(workdir) / 'profile.sqlite3'}", run_secrets)
            app = create_app(load_settings(env))
            client = app.test_client()
            workload = Workload(
                members=args.members,
                online=online_courses(simulator.base_url, f"Bearer {simulator.api_key}"),
                api_key=simulator.api_key,
                webhook_secret=run_secrets.webhook_secret,
                fernet_key=run_secrets.fernet_key,
            )
            for number, endpoint in enumerate(ENDPOINTS):
                factory = workload.factory(endpoint.key)
                lane = Lane(random.Random(number))  # noqa: S311 - picks members, not secrets; one draw per endpoint
                for _ in range(10):
                    _send(client, factory(lane))
                calls = [factory(lane) for _ in range(args.requests)]
                profiler = Profiler(interval=0.0005)
                upstream = 0.0
                started = time.perf_counter()
                profiler.start()
                for call in calls:
                    upstream += _send(client, call)
                profiler.stop()
                per_request = (time.perf_counter() - started) / len(calls) * 1000
                upstream_ms = upstream / len(calls) * 1000
                (args.output / f"profile-{endpoint.key}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
                flat = profiler.output_text(unicode=True, flat=True, flat_time="self").splitlines()
                listed = [line for line in flat if _SELF_TIME_LINE.match(line)]
                sys.stdout.write(
                    f"\n{endpoint.label}: {per_request:.1f} ms per request, {upstream_ms:.1f} ms waiting for Fabman, "
                    f"{per_request - upstream_ms:.1f} ms the bridge's own (profiler overhead included)\n"
                )
                sys.stdout.write("\n".join(listed[: args.top]) + "\n")
            bridge_of(app).close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
