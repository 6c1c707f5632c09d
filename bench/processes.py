"""The processes a benchmark run drives: the Fabman simulator and the bridge under gunicorn.

Each runs in its own process, as in production, so neither shares a GIL with
the load generator; their CPU time and memory are read from /proc.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_API_KEY = "bench-admin-key"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait; guest time is already in user
    return (sum(ticks) - idle) / _CLOCK_TICKS, sum(ticks) / _CLOCK_TICKS


@dataclass(frozen=True)
class Memory:
    """A process's resident memory now and at its peak, in MiB."""

    rss_mib: float
    peak_mib: float


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return Memory(values["VmRSS"], values["VmHWM"])


def children_of(pid: int) -> list[int]:
    """The direct child processes of `pid` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class _Managed:
    """A child process with a readiness probe, stopped with SIGTERM (then SIGKILL)."""

    name = "process"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _spawn(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def _wait_until(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f} s; see {self.log_path}")

    @property
    def pid(self) -> int:
        """The process id (gunicorn's master for the bridge)."""
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """Ask the process to stop; kill it when it does not within 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatorProcess(_Managed):
    """`python -m bridge.simulator --seed generated` with a fixed latency per API request."""

    name = "Fabman simulator"

    def __init__(self, members: int, latency_ms: float, log_path: Path) -> None:
        super().__init__(log_path)
        self.members = members
        self.latency_ms = latency_ms
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.root_url + "/api/v1"
        self.api_key = SIMULATOR_API_KEY
        self.control = requests.Session()

    def start(self) -> SimulatorProcess:
        """Seed the data and serve; returns once the control API answers."""
        args = [sys.executable, "-m", "bridge.simulator", "--seed", "generated", "--members", str(self.members)]
        args += ["--latency-ms", f"{self.latency_ms:g}", "--port", str(self.port), "--api-key", self.api_key]
        self._spawn(args)
        self._wait_until(self.root_url + "/_sim/stats", timeout=120)
        return self

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


class BridgeProcess(_Managed):
    """The bridge as deployed: `gunicorn main_run:app` with workers and threads."""

    name = "gunicorn"

    def __init__(self, env: dict[str, str], workers: int, threads: int, log_path: Path) -> None:
        super().__init__(log_path)
        self.env = {**os.environ, **env}
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> BridgeProcess:
        """Start gunicorn; returns once every worker is up and /health answers."""
        args = [sys.executable, "-m", "gunicorn", "main_run:app", "--bind", f"127.0.0.1:{self.port}"]
        args += ["--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "300"]
        self._spawn(args, env=self.env)
        self._wait_until(self.url + "/health", timeout=60)
        deadline = time.monotonic() + 30
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.1)
        return self

    def worker_pids(self) -> list[int]:
        """The worker processes of the gunicorn master."""
        return children_of(self.pid)
