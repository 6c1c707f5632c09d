"""The Werkzeug debugger never runs under BE_ENV=prod, however the bridge is started.

`flask run` and `python main_run.py` decide on the debugger from FLASK_DEBUG
after the app is built; each is started for real and asked for one of the
debugger's own resources, which only a running debugger serves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from tests.support import ROOT, free_port

pytestmark = pytest.mark.e2e

DEBUGGER_PROBE = "/health?__debugger__=yes&cmd=resource&f=debugger.js"


@contextmanager
def serving(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """Run a server command in its own process group until /health answers; stop the group afterwards."""
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"{args} exited with {process.returncode}"
            try:
                requests.get(url + "/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, f"{args} did not start"
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def _commands(port: int) -> dict[str, list[str]]:
    return {
        "flask run": [sys.executable, "-m", "flask", "--app", "main_run", "run", "--host", "127.0.0.1", "--port", str(port)],
        "main_run.py": [sys.executable, "main_run.py", "--host", "127.0.0.1", "--port", str(port)],
    }


@pytest.mark.parametrize("command", ["flask run", "main_run.py"])
def test_production_serves_no_debugger_even_with_flask_debug(command: str, env: dict[str, str]) -> None:
    port = free_port()
    with serving(_commands(port)[command], {**env, "BE_ENV": "prod", "FLASK_DEBUG": "1"}, port) as url:
        probe = requests.get(url + DEBUGGER_PROBE, timeout=5)
    assert probe.headers["Content-Type"].startswith("application/json")
    assert "console" not in probe.text.lower()


def test_the_probe_finds_the_debugger_in_development(env: dict[str, str]) -> None:
    """The control: with BE_ENV=dev and FLASK_DEBUG=1 the same probe gets the debugger's script."""
    port = free_port()
    with serving(_commands(port)["flask run"], {**env, "BE_ENV": "dev", "FLASK_DEBUG": "1"}, port) as url:
        probe = requests.get(url + DEBUGGER_PROBE, timeout=5)
    assert probe.status_code == 200
    assert "javascript" in probe.headers["Content-Type"]
