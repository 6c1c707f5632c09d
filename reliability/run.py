"""`python -m reliability [--quick] [--only NAME] [--database-url URL] [--report RELIABILITY.md]`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.engine import make_url

from reliability.checks import Tally
from reliability.report import RunInfo, details, markdown, table
from reliability.scenarios import FULL, QUICK, SCENARIOS, RunContext

ROOT = Path(__file__).resolve().parent.parent


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI size (200 results, 1,000 members in the sweep)")
    parser.add_argument(
        "--only", action="append", choices=[s.name for s in SCENARIOS], help="run only these scenarios (repeatable)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RELIABILITY_DATABASE_URL"),
        help="the bridge's store (emptied before each scenario); default: a fresh SQLite file per scenario",
    )
    parser.add_argument("--report", type=Path, help="write the guarantees, scenarios and figures to this Markdown file")
    parser.add_argument("--seed", type=int, default=7, help="seed of data, plans and faults (default 7)")
    return parser.parse_args(argv)


def _commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    found = subprocess.run(  # noqa: S603 - a fixed git command, no outside input
        [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios, print the table, write the report; 1 when any guarantee broke."""
    args = _parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    context = RunContext(QUICK if args.quick else FULL, workdir, args.database_url, args.seed)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    started_at = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    started = time.monotonic()
    tallies: list[Tally] = []
    for scenario in chosen:
        print(f"-- {scenario.title} ...", flush=True)
        began = time.monotonic()
        try:
            tally = scenario.run(context)
        except Exception:  # noqa: BLE001 - a crashed scenario is a failed one; the others still run
            tally = Tally(scenario.title)
            tally.problem("the scenario crashed: " + traceback.format_exc().strip().splitlines()[-1])
            traceback.print_exc()
        tally.seconds = time.monotonic() - began
        tallies.append(tally)
        print(f"   {'skipped' if tally.skipped else 'PASS' if tally.ok else 'FAIL'} in {tally.seconds:.0f} s", flush=True)
    print()
    print(table(tallies))
    print()
    print("\n".join(details(tallies)))
    passed = all(t.ok for t in tallies)
    if args.report:
        database = make_url(args.database_url).get_backend_name() if args.database_url else "sqlite"
        info = RunInfo(
            mode="Quick" if args.quick else "Full",
            sizes=", ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in asdict(context.sizes).items()),
            command="python -m reliability" + (" " + " ".join(argv) if argv else " " + " ".join(sys.argv[1:])).rstrip(),
            started=started_at,
            seconds=time.monotonic() - started,
            database=database,
            commit=_commit(),
            python=platform.python_version(),
            cpus=os.cpu_count() or 1,
        )
        args.report.write_text(markdown(tallies, info, [(s.title, s.guarantee) for s in chosen]), encoding="utf-8")
        print(f"\nwrote {args.report}")
    if passed:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"\nreliability run passed in {time.monotonic() - started:.0f} s")
        return 0
    print(f"\nreliability run FAILED; gunicorn logs kept in {workdir}")
    return 1
