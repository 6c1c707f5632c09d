"""Test doubles at the boundary: a real SMTP sink, a gunicorn-served bridge, signed results."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller

from bridge.domain.results import sign

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "test-webhook-secret"
CRON_TOKEN = "test-cron-token"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """A real SMTP server on loopback that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return "451 Temporarily unavailable"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
        self.refuse = False

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to one recipient."""
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self._lock:
            return list(self.messages)


def problem(response: Any, status: int) -> dict[str, Any]:
    """Check a response is RFC 9457 problem JSON of `status` with no traceback; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body  # type: ignore[no-any-return]


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def result_payload(
    token: str | None,
    *,
    result_id: int | str = 88123401,
    passed: bool = True,
    percentage: Any = 90,
    requires_grading: str = "No",
    test_name: str = "Laser cutter - safety",
) -> dict[str, Any]:
    """A ClassMarker link result shaped as ClassMarker sends it."""
    result: dict[str, Any] = {
        "link_result_id": result_id,
        "first": "Petra",
        "last": "Dvorakova",
        "email": "petra@example.org",
        "percentage": percentage,
        "points_scored": 9 if passed else 4,
        "points_available": 10,
        "requires_grading": requires_grading,
        "time_started": 1763712000,
        "time_finished": 1763712420,
        "duration": "00:07:00",
        "percentage_passmark": "80",
        "passed": passed,
        "feedback": "",
        "ip_address": "203.0.113.7",
    }
    if token is not None:
        result["cm_user_id"] = token
    return {
        "payload_type": "single_user_test_results_link",
        "payload_status": "live",
        "test": {"test_id": 2044187, "test_name": test_name},
        "link": {"link_id": 1288001, "link_name": "Laser cutter (members)", "link_url_id": "q7b2d9e1f0a3c4"},
        "result": result,
    }


def signed(payload: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """Body bytes and the headers ClassMarker would send with them."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    return body, {"X-Classmarker-Hmac-Sha256": sign(secret, body), "Content-Type": "application/json"}


class GunicornBridge:
    """The bridge served by gunicorn, as deployed, in a subprocess."""

    def __init__(self, env: dict[str, str], *, workers: int = 3, threads: int = 4, timeout: int = 30) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log_path = Path(env.get("GUNICORN_LOG", "/dev/null"))
        self.args = [
            sys.executable,
            "-m",
            "gunicorn",
            "main_run:app",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            str(timeout),
            "--graceful-timeout",
            "5",
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.output: Any = None

    def start(self, wait: float = 30.0) -> GunicornBridge:
        self.output = open(self.log_path, "ab") if str(self.log_path) != "/dev/null" else subprocess.DEVNULL
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self.output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()  # closes the output file, or the leak surfaces as a ResourceWarning in a later test
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not become healthy")

    def worker_pids(self) -> list[int]:
        """The worker processes of the gunicorn master."""
        assert self.process is not None
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True, check=False)
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.output not in (None, subprocess.DEVNULL):
            self.output.close()

    def __enter__(self) -> GunicornBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
