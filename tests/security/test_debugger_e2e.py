"""The Werkzeug debugger never runs under BE_ENV=prod, however the bridge is started.

`flask run` and `python main_run.py` decide on the debugger from FLASK_DEBUG
after the app is built; each is started for real and asked for one of the
debugger's own resources, which only a running debugger serves.
"""

from __future__ import annotations

import sys

import pytest
import requests

from harness.launch import ServerProcess, free_port

pytestmark = pytest.mark.e2e

DEBUGGER_PROBE = "/health?__debugger__=yes&cmd=resource&f=debugger.js"


def serving(command: str, env: dict[str, str]) -> ServerProcess:
    """`command` serving the bridge on a free port, ready once /health answers; stopping it stops its whole process group."""
    port = free_port()
    commands = {
        "flask run": [sys.executable, "-m", "flask", "--app", "main_run", "run", "--host", "127.0.0.1", "--port", str(port)],
        "main_run.py": [sys.executable, "main_run.py", "--host", "127.0.0.1", "--port", str(port)],
    }
    return ServerProcess(command, commands[command], port=port, env=env)


@pytest.mark.parametrize("command", ["flask run", "main_run.py"])
def test_production_serves_no_debugger_even_with_flask_debug(command: str, env: dict[str, str]) -> None:
    with serving(command, {**env, "BE_ENV": "prod", "FLASK_DEBUG": "1"}) as server:
        probe = requests.get(server.url + DEBUGGER_PROBE, timeout=5)
    assert probe.headers["Content-Type"].startswith("application/json")
    assert "console" not in probe.text.lower()


def test_the_probe_finds_the_debugger_in_development(env: dict[str, str]) -> None:
    """The control: with BE_ENV=dev and FLASK_DEBUG=1 the same probe gets the debugger's script."""
    with serving("flask run", {**env, "BE_ENV": "dev", "FLASK_DEBUG": "1"}) as server:
        probe = requests.get(server.url + DEBUGGER_PROBE, timeout=5)
    assert probe.status_code == 200
    assert "javascript" in probe.headers["Content-Type"]
