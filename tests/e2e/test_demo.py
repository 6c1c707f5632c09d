"""`python main_run.py --demo` honours PORT, and the commands it prints work when pasted.

The demo is started for real as its own process; its guide is read from its
output, and every printed `curl` command is replayed against the port it names.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from harness.launch import ROOT, free_port
from harness.wait import wait_until

pytestmark = pytest.mark.e2e

GUIDE_END = "Ctrl-C stops the demo."


@dataclass
class Demo:
    """A running demo process and the lines it has printed so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def serving(self, port: int) -> None:
        """Wait until the bridge answers on `port` (the guide is printed a moment before it listens)."""
        assert self.process.poll() is None, f"the demo exited with {self.process.returncode}: {self.lines}"
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, timeout=30, what="the demo listening")

    def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, f"the demo exited with {self.process.returncode}: {self.lines}"
            assert time.monotonic() < deadline, f"the demo never printed {text!r}: {self.lines}"
            time.sleep(0.05)


def _environment(**extra: str) -> dict[str, str]:
    """The caller's environment without any bridge setting, plus `extra`; unbuffered so lines arrive as printed."""
    inherited = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}}
    return {**inherited, "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def demo(*args: str, **environment: str) -> Iterator[Demo]:
    """Run the demo in its own process group, collecting its output; stop the group afterwards."""
    process = subprocess.Popen(
        [sys.executable, "main_run.py", "--demo", *args],
        cwd=ROOT,
        env=_environment(**environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    running = Demo(process)
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: running.lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)
        process.stdout.close()


def _replay(command: str) -> requests.Response:
    """Run a printed `curl -s [-X METHOD] URL [-H ...] [-d ... | --data-binary @file] [-o file]` with requests."""
    words = iter(shlex.split(command))
    assert next(words) == "curl"
    method, url, headers, body, output = "GET", "", {}, None, None
    for word in words:
        if word == "-s":
            continue
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(": ")
            headers[name] = value
        elif word == "-d":
            body = next(words).encode("utf-8")
        elif word == "--data-binary":
            body = Path(next(words).removeprefix("@")).read_bytes()
        elif word == "-o":
            output = Path(next(words))
        else:
            url = word
    answer = requests.request(method, url, headers=headers, data=body, timeout=10)
    if output is not None:
        output.write_bytes(answer.content)
    return answer


DENIED_MAIL = "--- mail to petra.dvorakova@example.org: Školení k zařízení Laserová řezačka / Training for"


def test_the_demo_serves_on_port_and_every_printed_command_works_there() -> None:
    port = free_port()
    with demo(PORT=str(port)) as running:
        running.wait_for_line(GUIDE_END)
        running.serving(port)
        guide = running.lines[: next(i for i, line in enumerate(running.lines) if GUIDE_END in line)]
        commands = [line.strip() for line in guide if line.strip().startswith("curl ")]

        assert f"  Swagger UI:       http://127.0.0.1:{port}/apidocs/" in guide
        assert requests.get(f"http://127.0.0.1:{port}/apidocs/", timeout=10).status_code == 200
        assert len(commands) == 13
        answers = {}
        for command in commands:
            assert re.search(rf" '?http://127\.0\.0\.1:{port}/", command), command
            answer = _replay(command)
            assert answer.status_code == 200, (command, answer.text)
            path = answer.url.removeprefix(f"http://127.0.0.1:{port}").split("?")[0]
            if path == "/fabman_webhook" and path not in answers:
                # Fabman's event is handled after its answer; as a person reading the guide would, see its mail
                # (Petra refused at the laser cutter gets the quiz link) before the next command trains her.
                running.wait_for_line(DENIED_MAIL)
            answers[path] = answer.json()

        assert answers["/add_classmarker_training"]["status"] == "accepted"
        # The result whose webhook was lost is found in the simulated ClassMarker's API and granted.
        assert answers["/cron/reconcile"]["complete"] is True and answers["/cron/reconcile"]["gap"] == 1
        assert [training["id"] for training in answers["/absolved_trainings/12"]] == [1]
        assert answers["/ready"]["reconciliation"]["webhook_gap"]["total"] == 1
        # The "training granted" mail, printed instead of sent, with a readable subject.
        running.wait_for_line("--- mail to petra.dvorakova@example.org: Školení splněno: Laserová řezačka / Training completed")
        # Fabman's webhook: Petra refused at the laser cutter gets the training's quiz link.
        assert answers["/fabman_webhook"]["status"] == "stored"
        running.wait_for_line(DENIED_MAIL)
        # Signed evidence: the bundle the guide fetched verifies offline with the printed command.
        bundle = answers["/admin/evidence/proof"]
        assert bundle["checkpoint"]["origin"] == "FabLab Brno training evidence" and bundle["checkpoint"]["size"] >= 2
        [verify] = [line.strip() for line in guide if "verify_evidence.py" in line and not line.strip().startswith("#")]
        words = shlex.split(verify)
        assert words[0] == "python3" and words[-2] == "--key"
        checked = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith(f"VALID: leaf {bundle['index']} is in the log")
        # Courses that build on each other: Eva has no safety training, so the vacuum former names it as missing.
        vacuum = next(item for item in answers["/training_overview/6"] if item["id"] == 12)
        assert (vacuum["state"], vacuum["missing"]) == ("needs_prerequisite", [1])
        assert vacuum["next_step"]["en"] == "Take Workshop safety first."
        # A training that lives on use: Ondřej used the plotter, so his vinyl cutter training now lasts 6 months.
        [key] = re.findall(r"\(API key (\S+)\)", "\n".join(guide))
        a_month_on = (dt.date.today() + dt.timedelta(days=31)).isoformat()  # it ended in a week before the use

        def vinyl_until() -> str | None:
            listed = requests.get(f"http://127.0.0.1:{port}/absolved_trainings/9", headers={"Authorization": key}, timeout=10)
            until = next(item["until_date"] for item in listed.json() if item["id"] == 5)
            return until if until is not None and until > a_month_on else None

        wait_until(vinyl_until, timeout=20, what="Ondřej's vinyl cutter training to be renewed on use")
        assert any("a training that lives on use" in line for line in guide)


def test_the_port_option_wins_over_port() -> None:
    port = free_port()
    with demo("--port", str(port), PORT="1") as running:
        running.wait_for_line(GUIDE_END)
        running.serving(port)
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200


@pytest.mark.parametrize(("port", "message"), [("http", "PORT must be an integer"), ("70000", "PORT must be at most 65535")])
def test_an_unreadable_port_stops_the_demo_with_one_line(port: str, message: str) -> None:
    finished = subprocess.run(
        [sys.executable, "main_run.py", "--demo"],
        cwd=ROOT,
        env=_environment(PORT=port),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 3
    assert finished.stderr == f"FabLab Bridge cannot start: {message}\n"
    assert finished.stdout == ""


def test_a_taken_port_stops_the_demo_with_one_line_before_printing_a_guide() -> None:
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]

        finished = subprocess.run(
            [sys.executable, "main_run.py", "--demo"],
            cwd=ROOT,
            env=_environment(PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert finished.returncode == 1
    assert finished.stderr.splitlines() == [
        f"Port {port} is taken; choose another: PORT=8080 make demo (or main_run.py --demo --port 8080)"
    ]
    assert finished.stdout == ""
