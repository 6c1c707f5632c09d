"""The world a scenario runs in: Fabman simulator, SMTP server, store and gunicorn.

Each scenario gets a fresh world (new simulator state, empty store, new
gunicorn master), so its figures are its own. The driver talks to the bridge
only over HTTP, as ClassMarker and the scheduler do, and observes the outcome
directly: the simulator's state in process, the SMTP server's mailbox, and the
store through SQLAlchemy on the same DATABASE_URL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.store import Store
from bridge.simulator import FabmanSimulator, SimState
from harness import CRON_TOKEN, WEBHOOK_SECRET
from harness.classmarker import result_payload, signed
from harness.launch import GunicornBridge, SmtpSink

WORKERS = 3
THREADS = 4
STAFF_EMAIL = "staff@fablab.example"
DEFAULT_BUDGET_SECONDS = 8.0
CLASSMARKER_REDELIVERIES = 5


class CountingSmtpSink(SmtpSink):
    """The SMTP sink, counting the messages it refused while `refuse` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            self.refused += 1
        return await super().handle_DATA(server, session, envelope)

    def received(self) -> list[tuple[str, str]]:
        """(recipient, subject) of every distinct message accepted: what the member's mailbox shows.

        The bridge sends at least once and re-sends a mail under the same
        Message-ID (a worker killed between SMTP's answer and the outbox's
        record); mail systems fold such copies, so they count once here and
        are reported by :meth:`resent`.
        """
        with self._lock:
            distinct = {str(m["Message-ID"]): (str(m["To"]), str(m["Subject"])) for m in self.messages}
            return list(distinct.values())

    def resent(self) -> int:
        """Copies of a message accepted more than once (same Message-ID)."""
        with self._lock:
            return len(self.messages) - len({str(m["Message-ID"]) for m in self.messages})


@dataclass(frozen=True)
class Delivery:
    """One result as ClassMarker delivered it: the final answer, its latency, and how many tries it took."""

    status: int | None
    body: dict[str, Any]
    seconds: float
    tries: int


@dataclass
class Drain:
    """What retrying until nothing was due took."""

    calls: int
    seconds: float
    left: dict[str, int]
    waited_for: frozenset[str] = frozenset()


class World:
    """One bridge under gunicorn, wired to its own simulator, SMTP server and store."""

    def __init__(
        self,
        state: SimState,
        workdir: Path,
        name: str,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        timeout: int = 30,
    ) -> None:
        self.simulator = FabmanSimulator(state)
        self.smtp = CountingSmtpSink()
        self.log_path = workdir / f"{name}.gunicorn.log"
        self.database_url = database_url or f"sqlite:///{workdir / f'{name}.sqlite3'}"
        self.fernet_key = Fernet.generate_key().decode("ascii")
        self.codec = CmUserIdCodec((self.fernet_key,))
        self.extra_env = env or {}
        self.timeout = timeout
        self.budget = float(self.extra_env.get("WEBHOOK_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))
        self.store = Store(self.database_url)
        self.gunicorn: GunicornBridge | None = None
        self.requests = 0
        self._count_lock = threading.Lock()
        self._local = threading.local()

    # -- lifecycle -------------------------------------------------------

    def __enter__(self) -> World:
        self.simulator.start()
        self.smtp.start()
        self.store.drop_all()
        env = {
            "FABMAN_API_KEY": self.simulator.api_key,
            "FABMAN_API_URL": self.simulator.base_url,
            "FERNET_KEY": self.fernet_key,
            "CLASSMARKER_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CRONJOB_TOKEN": CRON_TOKEN,
            "SECRET_KEY": "reliability-secret-key",
            "DATABASE_URL": self.database_url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.smtp.port),
            "MAIL_DEFAULT_SENDER": "bridge@fablab.example",
            "FABLAB_SUPPORT_EMAIL": STAFF_EMAIL,
            "COURSES_WEB_URL": "https://courses.fablab.example/member",
            "COURSES_WEB_PRIVATE_KEY": "reliability-courses-key",
            "RETRY_BASE_SECONDS": "0",
            # A gthread worker otherwise accepts connections beyond its threads and
            # makes them wait behind busy ones (while Fabman hangs, for seconds).
            "GUNICORN_CMD_ARGS": f"--worker-connections {THREADS}",
            **self.extra_env,
        }
        self.gunicorn = GunicornBridge(
            env, workers=WORKERS, threads=THREADS, timeout=self.timeout, log_path=self.log_path, ready_timeout=60
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.gunicorn is not None:
            self.gunicorn.stop()
        self.simulator.stop()
        self.smtp.stop()
        self.store.dispose()

    @property
    def url(self) -> str:
        """The bridge's base URL."""
        assert self.gunicorn is not None
        return self.gunicorn.url

    def worker_pids(self) -> list[int]:
        """gunicorn's current worker processes."""
        assert self.gunicorn is not None
        return self.gunicorn.worker_pids()

    # -- talking to the bridge ---------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def post(self, path: str, *, timeout: float = 60.0, **kwargs: Any) -> requests.Response:
        """One request to the bridge, counted."""
        with self._count_lock:
            self.requests += 1
        return self._session().post(self.url + path, timeout=timeout, **kwargs)

    def payload(self, result_id: str, member_id: int, course_id: int, passed: bool, *, grading: bool = False) -> bytes:
        """A signed-to-be ClassMarker link result for the member's quiz of the course."""
        token = self.codec.encode(member_id, course_id)
        body = result_payload(
            token,
            result_id=int(result_id),
            passed=passed,
            percentage=90 if passed else 40,
            requires_grading="Yes" if grading else "No",
            test_name=f"Course {course_id} quiz",
        )
        return json.dumps(body).encode("utf-8")

    def deliver(self, body: bytes) -> Delivery:
        """POST a result as ClassMarker does, delivering it again after a failure (as ClassMarker retries)."""
        data, headers = signed(body)
        started = time.perf_counter()
        last: Delivery | None = None
        for attempt in range(1, CLASSMARKER_REDELIVERIES + 1):
            sent = time.perf_counter()
            try:
                response = self.post("/add_classmarker_training", data=data, headers=headers)
            except requests.RequestException:
                last = Delivery(None, {}, time.perf_counter() - sent, attempt)
            else:
                answer = response.json() if response.headers.get("Content-Type", "").startswith("application") else {}
                last = Delivery(response.status_code, answer, time.perf_counter() - sent, attempt)
                if response.status_code == 200:
                    return Delivery(200, answer, last.seconds, attempt)
            time.sleep(0.5)
        assert last is not None
        return Delivery(last.status, last.body, time.perf_counter() - started, last.tries)

    def deliver_all(self, bodies: Iterable[bytes], *, concurrency: int, pace: float = 0.0) -> list[Delivery]:
        """Deliver many results from `concurrency` threads; `pace` seconds between submissions."""
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = []
            for body in bodies:
                futures.append(pool.submit(self.deliver, body))
                if pace:
                    time.sleep(pace)
            return [future.result() for future in futures]

    def retry(self) -> dict[str, Any]:
        """One POST /cron/retry as the scheduler sends it."""
        response = self.post("/cron/retry", headers={"CronjobToken": CRON_TOKEN}, timeout=300)
        response.raise_for_status()
        return dict(response.json())

    def drain(self, *, deadline: float = 180.0, parallel: int = 1) -> Drain:
        """Call /cron/retry (`parallel` at once) until the store shows nothing left to do, or the deadline passes."""
        started = time.monotonic()
        calls = 0
        waited_for: set[str] = set()
        while True:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                calls += len(list(pool.map(lambda _: self.retry(), range(parallel))))
            left = self.backlog()
            if not any(left.values()) or time.monotonic() - started > deadline:
                return Drain(calls, time.monotonic() - started, left, frozenset(waited_for))
            waited_for.update(kind for kind, count in left.items() if count)
            time.sleep(0.5)

    # -- observing -------------------------------------------------------

    def backlog(self) -> dict[str, int]:
        """Inbox events still queued and messages still pending, per the store itself."""
        events, messages = self.store.count_events(), self.store.count_messages()
        return {"queued events": events.get("queued", 0), "pending mails": messages.get("pending", 0)}

    def inbox(self) -> dict[str, str]:
        """Status per result key, every inbox row."""
        return self.store.event_keys()

    def outbox_statuses(self) -> dict[str, int]:
        """Outbox rows per status."""
        return self.store.count_messages()
