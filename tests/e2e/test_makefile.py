"""The Makefile's newcomer traps: `make clean` keeps the store, an old Python stops make with one line.

make runs for real, with a fake interpreter (a script reporting an old version)
and a venv path in a temporary folder, so nothing of the checkout is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.launch import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")]


def _make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """make as a newcomer runs it: not a sub-make of the `make test` running this suite (its jobserver, its flags)."""
    env = {name: value for name, value in os.environ.items() if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _interpreter(path: Path, version: str) -> Path:
    """A stand-in for a Python that reports `version` and does nothing else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("target", ["venv", "test", "demo", "lint"])
def test_an_old_python_stops_every_target_with_one_line_before_a_venv_is_built(tmp_path: Path, target: str) -> None:
    old = _interpreter(tmp_path / "python3.10", "3.10.12")

    finished = _make(target, f"PYTHON={old}", f"VENV={tmp_path / 'venv'}")

    assert finished.returncode != 0
    assert finished.stdout == ""
    (line,) = finished.stderr.splitlines()
    assert f"FabLab Bridge needs Python 3.11 or newer; {old} is 3.10.12 (set PYTHON=python3.11)" in line
    assert not (tmp_path / "venv").exists()


def test_a_missing_python_is_named_too(tmp_path: Path) -> None:
    finished = _make("venv", f"PYTHON={tmp_path / 'python3'}", f"VENV={tmp_path / 'venv'}")

    (line,) = finished.stderr.splitlines()
    assert f"{tmp_path / 'python3'} is not installed (set PYTHON=python3.11)" in line


def test_a_venv_built_by_an_old_python_is_refused_with_what_to_do(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _interpreter(venv / "bin" / "python", "3.10.12")
    (venv / "bin" / ".installed").touch()

    finished = _make("venv", f"VENV={venv}")

    (line,) = finished.stderr.splitlines()
    assert f"{venv}/bin/python is 3.10.12 (built earlier: run make clean and then make PYTHON=python3.11)" in line


@pytest.mark.parametrize("version", ["3.11.0", "3.13.2", "4.0.1"])
def test_a_supported_python_passes_the_check(tmp_path: Path, version: str) -> None:
    """-n shows what make would run: with the check passed, it would build the venv with that Python."""
    fine = _interpreter(tmp_path / "python", version)

    finished = _make("-n", "venv", f"PYTHON={fine}", f"VENV={tmp_path / 'venv'}")

    assert finished.returncode == 0, finished.stderr
    assert f"{fine} -m venv {tmp_path / 'venv'}" in finished.stdout.splitlines()


def test_the_real_interpreter_passes_the_check(tmp_path: Path) -> None:
    finished = _make("-n", "venv", f"PYTHON={sys.executable}", f"VENV={tmp_path / 'venv'}")

    assert finished.returncode == 0, finished.stderr


def test_clean_removes_the_venv_and_caches_but_never_the_store(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    store = tmp_path / "instance" / "bridge.sqlite3"
    store.parent.mkdir()
    store.write_bytes(b"SQLite format 3\x00 the ledger of granted trainings")
    rebuilt = [
        ".venv/bin/python",
        ".pytest_cache/v/x",
        ".coverage",
        ".hypothesis/examples/x",
        ".ruff_cache/x",
        "bridge/__pycache__/x.pyc",
    ]
    for name in rebuilt:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("rebuildable")

    finished = _make("clean", cwd=tmp_path)

    assert finished.returncode == 0, finished.stderr
    assert store.read_bytes() == b"SQLite format 3\x00 the ledger of granted trainings"
    assert [name for name in rebuilt if (tmp_path / name.split("/")[0]).exists() and name != "bridge/__pycache__/x.pyc"] == []
    assert not (tmp_path / "bridge" / "__pycache__").exists()
