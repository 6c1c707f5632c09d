"""`python -m reliability [--quick] [--only NAME] [--database-url URL] [--postgres URL] [--report docs/reliability.md]`.

The two-instance scenarios run on a PostgreSQL database the run creates for
itself (`reliability_<pid>`, through the server's maintenance database given
by `--postgres`) and drops at the end, so it never touches a database anyone
else uses. When that server cannot be reached they are reported as skipped,
loudly; under CI (`CI=true`) they fail instead.
"""

from __future__ import annotations

import argparse
import contextlib
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
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from reliability import instances, reconciliation, scenarios
from reliability.checks import Tally
from reliability.report import RunInfo, details, markdown, table
from reliability.scenarios import FULL, QUICK, RunContext, Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS: tuple[Scenario, ...] = (*scenarios.SCENARIOS, *instances.SCENARIOS, *reconciliation.SCENARIOS)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_SECONDS = 5


class ScratchDatabase:
    """A PostgreSQL database of the run's own, created on entry and dropped (with any connection left) on exit."""

    def __init__(self, server_url: str) -> None:
        server = make_url(server_url).set(drivername="postgresql")
        self.name = f"reliability_{os.getpid()}"
        self.server = server
        self.shown = server.render_as_string(hide_password=True)
        self.url: str | None = None
        self.version = ""
        self.unreachable: str | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        url = self.server.render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS)

    def __enter__(self) -> ScratchDatabase:
        try:
            with self._connect() as connection:
                self.version = str(connection.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        except psycopg.Error as error:
            self.unreachable = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            return self
        database: URL = self.server.set(database=self.name)
        self.url = database.render_as_string(hide_password=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.url is None:
            return
        with self._connect() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


def under_ci() -> bool:
    """Whether this is a CI run (`CI` set, as CI services do), where a missing PostgreSQL is a failure."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(scenario: Scenario, database: ScratchDatabase) -> Tally:
    """The row of a PostgreSQL scenario that could not run: skipped, or failed under CI."""
    tally = Tally(scenario.title, store="postgresql")
    reason = f"PostgreSQL not reachable at {database.shown} ({database.unreachable})"
    if under_ci():
        tally.problem(reason + "; CI runs the PostgreSQL scenarios, so this fails")
    else:
        tally.skipped = reason
    print(f"   !!! {'FAIL' if under_ci() else 'SKIPPED'}: {reason}", flush=True)
    return tally


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI size (200 results, 1,000 members in the sweep)")
    parser.add_argument(
        "--only", action="append", choices=[s.name for s in SCENARIOS], help="run only these scenarios (repeatable)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RELIABILITY_DATABASE_URL"),
        help="the single-instance scenarios' store (emptied before each scenario); default: a fresh SQLite file per scenario",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("RELIABILITY_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server's maintenance database; the two-instance scenarios run in a database the run creates "
        f"there and drops at the end (default {DEFAULT_POSTGRES})",
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
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    started_at = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    started = time.monotonic()
    database = ScratchDatabase(args.postgres)
    needs_postgres = any(s.postgres for s in chosen)
    with database if needs_postgres else contextlib.nullcontext():
        context = RunContext(QUICK if args.quick else FULL, workdir, args.database_url, args.seed, database.url)
        tallies = [_run(scenario, context, database) for scenario in chosen]
    print()
    print(table(tallies))
    print()
    print("\n".join(details(tallies)))
    skipped = [t for t in tallies if t.skipped]
    if skipped:
        print(f"\n!!! {len(skipped)} scenario(s) SKIPPED, their guarantees NOT checked: {skipped[0].skipped}")
    passed = all(t.ok for t in tallies)
    if args.report:
        single = make_url(args.database_url).get_backend_name() if args.database_url else "sqlite"
        stores = f"{single} (one instance)"
        if needs_postgres:
            stores += f", postgresql {database.version or '(unreachable)'} (two instances)"
        info = RunInfo(
            mode="Quick" if args.quick else "Full",
            sizes=", ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in asdict(context.sizes).items()),
            command="python -m reliability" + (" " + " ".join(argv) if argv else " " + " ".join(sys.argv[1:])).rstrip(),
            started=started_at,
            seconds=time.monotonic() - started,
            database=stores,
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


def _run(scenario: Scenario, context: RunContext, database: ScratchDatabase) -> Tally:
    """One scenario, timed; a crash is a failed row, and the next scenario still runs."""
    print(f"-- {scenario.title} ...", flush=True)
    began = time.monotonic()
    if scenario.postgres and context.postgres_url is None:
        tally = unavailable(scenario, database)
    else:
        try:
            tally = scenario.run(context)
        except Exception:  # noqa: BLE001 - a crashed scenario is a failed one; the others still run
            tally = Tally(scenario.title, store="postgresql" if scenario.postgres else "sqlite")
            tally.problem("the scenario crashed: " + traceback.format_exc().strip().splitlines()[-1])
            traceback.print_exc()
    tally.seconds = time.monotonic() - began
    print(f"   {'SKIPPED' if tally.skipped else 'PASS' if tally.ok else 'FAIL'} in {tally.seconds:.0f} s", flush=True)
    return tally
