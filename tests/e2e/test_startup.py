"""A bridge started with a bad variable stops with one line naming it, never its value, through each entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.launch import ROOT
from tests.unit.test_config import API_KEY, production

pytestmark = pytest.mark.e2e


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an entry point with exactly this environment (and the venv's Python)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("bad", "named", "secret"),
    [
        ({"FERNET_KEY": "my-precious-fernet-secret"}, "FERNET_KEY", "my-precious-fernet-secret"),
        ({"TRACK_TIME": "sometimes"}, "TRACK_TIME", "sometimes"),
        ({"MAX_COURSE_ATTEMPTS": "lots"}, "MAX_COURSE_ATTEMPTS", "lots"),
        ({"BE_ENV": "prod", "SECRET_KEY": ""}, "SECRET_KEY", API_KEY),
    ],
)
def test_main_run_with_a_bad_variable_exits_with_one_line(tmp_path: Path, bad: dict[str, str], named: str, secret: str) -> None:
    env = {**production(), "DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.sqlite3'}", **bad}

    finished = start([str(ROOT / "main_run.py")], env, tmp_path)

    assert finished.returncode != 0
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert named in lines[0]
    assert "Traceback" not in finished.stderr
    output = finished.stdout + finished.stderr
    for value in (secret, API_KEY, "flask-secret-91b2", "cm-secret-5d2e"):
        assert value not in output


def test_gunicorn_with_a_bad_variable_stops_instead_of_respawning(tmp_path: Path) -> None:
    env = {**production(), "FERNET_KEY": "my-precious-fernet-secret", "DATABASE_URL": f"sqlite:///{tmp_path / 'b.sqlite3'}"}
    args = ["-m", "gunicorn", "main_run:app", "--chdir", str(ROOT), "--bind", "127.0.0.1:0", "--workers", "2"]

    finished = start(args, env, tmp_path)

    assert finished.returncode != 0
    output = finished.stdout + finished.stderr
    complaints = [line for line in output.splitlines() if "cannot start" in line]
    assert complaints and all("FERNET_KEY" in line for line in complaints)
    assert "my-precious-fernet-secret" not in output
    assert API_KEY not in output
