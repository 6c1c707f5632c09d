"""Without PostgreSQL the two-instance scenarios are skipped loudly, and under CI they fail; the run's own database is dropped."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy.engine import make_url

from harness.launch import ROOT, free_port
from reliability.run import ScratchDatabase

pytestmark = pytest.mark.e2e


def run_pairs_against_nothing(ci: str | None) -> subprocess.CompletedProcess[str]:
    """`python -m reliability --only pairs` with --postgres pointing at a port nobody listens on."""
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "reliability", "--quick", "--only", "pairs", "--postgres", nobody],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_postgresql_the_two_instance_scenarios_are_skipped_loudly() -> None:
    finished = run_pairs_against_nothing(ci=None)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "!!! SKIPPED: PostgreSQL not reachable at postgresql://postgres@127.0.0.1:" in finished.stdout
    assert "scenario(s) SKIPPED, their guarantees NOT checked" in finished.stdout


def test_under_ci_a_missing_postgresql_fails_the_run() -> None:
    finished = run_pairs_against_nothing(ci="true")
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert "!!! FAIL: PostgreSQL not reachable" in finished.stdout
    assert "CI runs the PostgreSQL scenarios, so this fails" in finished.stdout


def test_the_run_creates_its_own_database_and_drops_it() -> None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs TEST_DATABASE_URL on PostgreSQL")
    server = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with ScratchDatabase(server) as scratch:
        assert scratch.url is not None
        assert scratch.name == f"reliability_{os.getpid()}"
        with psycopg.connect(scratch.url) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == (scratch.name,)
    with psycopg.connect(server, autocommit=True) as connection:
        left = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch.name,)).fetchone()
    assert left is None
