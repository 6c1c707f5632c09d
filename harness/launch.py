"""Launchers for the world around a bridge: an SMTP sink, the Fabman simulator and gunicorn, each on loopback.

Servers in child processes run in their own session, so stopping one stops
everything it started (gunicorn's workers, Flask's reloader) and a Ctrl-C in
the terminal reaches only the driver, which then stops them in order.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Self

import requests
from aiosmtpd.controller import Controller

from harness.mailbox import Mailbox
from harness.wait import wait_until

ROOT = Path(__file__).resolve().parent.parent
"""The repository: the working directory of every launched process."""

SIMULATOR_API_KEY = "bench-admin-key"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """The direct child processes of `pid` (gunicorn's workers), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class SmtpSink(Mailbox):
    """A real SMTP server on loopback that keeps every message it accepts, or refuses them all while `refuse` is set.

    `delay` (seconds) makes it answer each message as slowly as a real provider does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return "451 Temporarily unavailable"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> Self:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class ServerProcess:
    """An HTTP server in a child process: started, probed until `ready_path` answers 200, stopped with SIGTERM (then SIGKILL)."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        port: int,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        ready_path: str = "/health",
        ready_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.args = args
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.ready_path = ready_path
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id (gunicorn's master for the bridge)."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> Self:
        """Start the process; return once it answers, or stop it and raise RuntimeError if it exits or stays silent."""
        self._log = open(self.log_path, "wb") if self.log_path is not None else None
        self.process = subprocess.Popen(  # noqa: S603 - the harness's own commands, run with this Python
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()  # also closes the log, or the leak surfaces as a ResourceWarning in a later test
            raise
        return self

    def _wait_until_ready(self) -> None:
        wait_until(self._answers, timeout=self.ready_timeout, what=f"{self.name} answering {self.ready_path}{self._see_log()}")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}{self._see_log()}")
        return requests.get(self.url + self.ready_path, timeout=1).status_code == 200

    def _see_log(self) -> str:
        return f" (see {self.log_path})" if self.log_path is not None else ""

    def stop(self) -> None:
        """Ask the process and all it started to stop; kill them when the process has not ended within 15 s."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._close_log()

    def kill(self) -> None:
        """SIGKILL the process and everything it started at once, as a crashed host or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def terminate(self, timeout: float) -> float:
        """SIGTERM the process alone (as a process manager does) and wait for it to end; the seconds it took.

        Raises subprocess.TimeoutExpired, leaving the process running, when it has not ended within `timeout` s.
        """
        assert self.process is not None
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        self._close_log()
        return time.monotonic() - started

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GunicornBridge(ServerProcess):
    """The bridge as deployed: `gunicorn main_run:app` with workers and threads; ready once every worker is up.

    `timeout` is gunicorn's: how long a worker may be silent before the master
    kills it (the benchmark gives its long sweeps more than the tests do).
    `graceful_timeout` is how long a stopping worker may finish its work
    (tests keep it short; gunicorn.conf.py deploys 20 s). `port` lets an
    instance come back at the address it had.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 3,
        threads: int = 4,
        timeout: int = 30,
        graceful_timeout: int = 5,
        port: int | None = None,
        log_path: Path | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        port = port or free_port()
        args = [sys.executable, "-m", "gunicorn", "main_run:app", "--bind", f"127.0.0.1:{port}"]
        args += ["--workers", str(workers), "--threads", str(threads), "--timeout", str(timeout)]
        args += ["--graceful-timeout", str(graceful_timeout)]
        super().__init__("gunicorn", args, port=port, env=env, log_path=log_path, ready_timeout=ready_timeout)
        self.workers = workers

    def _wait_until_ready(self) -> None:
        super()._wait_until_ready()
        wait_until(
            lambda: len(self.worker_pids()) >= self.workers, timeout=self.ready_timeout, what=f"{self.workers} gunicorn workers"
        )

    def worker_pids(self) -> list[int]:
        """The worker processes of the gunicorn master."""
        return children_of(self.pid)


class SimulatorProcess(ServerProcess):
    """`python -m sandbox.simulator --seed generated` in its own process (sharing no GIL with a load generator)."""

    def __init__(self, members: int, latency_ms: float, log_path: Path, *, ready_timeout: float = 120.0) -> None:
        port = free_port()
        args = [sys.executable, "-m", "sandbox.simulator", "--seed", "generated", "--members", str(members)]
        args += ["--latency-ms", f"{latency_ms:g}", "--port", str(port), "--api-key", SIMULATOR_API_KEY]
        super().__init__(
            "Fabman simulator", args, port=port, log_path=log_path, ready_path="/_sim/stats", ready_timeout=ready_timeout
        )
        self.members = members
        self.latency_ms = latency_ms
        self.root_url = self.url
        self.base_url = self.root_url + "/api/v1"
        self.api_key = SIMULATOR_API_KEY
        self.control = requests.Session()

    def stop(self) -> None:
        super().stop()
        self.control.close()

    def clear_requests(self) -> None:
        """Empty the simulator's request log before a measured phase."""
        self.control.delete(self.root_url + "/_sim/requests", timeout=30).raise_for_status()

    def logged_requests(self) -> list[dict[str, Any]]:
        """The API requests answered since the last clear."""
        response = self.control.get(self.root_url + "/_sim/requests", timeout=60)
        response.raise_for_status()
        return list(response.json())

    def stats(self) -> dict[str, Any]:
        """Record counts (members, trainings, courses) and the request count."""
        response = self.control.get(self.root_url + "/_sim/stats", timeout=30)
        response.raise_for_status()
        return dict(response.json())
