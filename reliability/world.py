"""The world a scenario runs in: Fabman simulator, SMTP server, store and one or more bridge instances.

Each scenario gets a fresh world (new simulator state, empty store, new
gunicorn masters), so its figures are its own. An instance is one gunicorn
master with its workers at a fixed address; several instances share the
store, as several hosts behind a load balancer share one PostgreSQL. The
driver talks to the bridge only over HTTP, as ClassMarker and the scheduler
do (deliveries take turns between instances), and observes the outcome
directly: the simulator's state and request log in process, the SMTP
server's mailbox, and the store through the bridge's own Store on the same
DATABASE_URL.
"""

from __future__ import annotations

import datetime as dt
import itertools
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
from bridge.adapters.store import InboxEvent, JobRunRow, Store
from bridge.domain.statuses import EventStatus
from harness import CRON_TOKEN, WEBHOOK_SECRET
from harness.classmarker import quizzes_in, result_payload, signed
from harness.launch import GunicornBridge, SmtpSink, free_port
from sandbox.simulator import FabmanSimulator, SimState
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator

WORKERS = 3
THREADS = 4
STAFF_EMAIL = "staff@fablab.example"
CLASSMARKER_REDELIVERIES = 5
REDELIVERY_PAUSE_SECONDS = 0.5
INSTANCE_NAMES = "ABCDEFGH"
ACCEPTED = "accepted"


def utc_now() -> dt.datetime:
    """Now, in the store's terms (UTC, aware): the driver and the bridge share this machine's clock."""
    return dt.datetime.now(dt.UTC)


class CountingSmtpSink(SmtpSink):
    """The SMTP sink, counting the messages it refused while `refuse` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
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
    """One result as ClassMarker delivered it: the final answer, which instance gave it, its latency, how many tries."""

    status: int | None
    body: dict[str, Any]
    seconds: float
    tries: int
    instance: int = 0


@dataclass
class Drain:
    """What waiting until nothing was due took (`calls` to /cron/retry, 0 when the bridge's own jobs did it)."""

    calls: int
    seconds: float
    left: dict[str, int]
    waited_for: frozenset[str] = frozenset()


class Instance:
    """One bridge instance: a gunicorn master and its workers at a fixed address; it can die and come back there."""

    def __init__(self, name: str, env: dict[str, str], log_stem: Path, *, timeout: int, graceful_timeout: int) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_stem = log_stem
        self.timeout = timeout
        self.graceful_timeout = graceful_timeout
        self.gunicorn: GunicornBridge | None = None
        self.starts = 0
        self.ended: dict[int, dt.datetime] = {}
        """When each process of a previous start (master and workers) ended: killed or stopped."""
        self._pids: set[int] = set()

    def start(self) -> Instance:
        """Start gunicorn at this instance's address; return once every worker is up."""
        self.starts += 1
        suffix = "" if self.starts == 1 else f".{self.starts}"
        self.gunicorn = GunicornBridge(
            self.env,
            workers=WORKERS,
            threads=THREADS,
            timeout=self.timeout,
            graceful_timeout=self.graceful_timeout,
            port=self.port,
            log_path=self.log_stem.with_name(f"{self.log_stem.name}.{self.name}{suffix}.gunicorn.log"),
            ready_timeout=90,
        ).start()
        self.note_processes()
        return self

    @property
    def running(self) -> bool:
        """Whether the master is alive."""
        return self.gunicorn is not None and self.gunicorn.process is not None and self.gunicorn.process.poll() is None

    def note_processes(self) -> None:
        """Remember the master and its current workers (a job run's owner names its process)."""
        if self.gunicorn is not None:
            self._pids |= {self.gunicorn.pid, *self.gunicorn.worker_pids()}

    def pids(self) -> set[int]:
        """Every process this instance ran, in any start."""
        return self._pids | set(self.ended)

    def worker_pids(self) -> list[int]:
        """The current workers."""
        assert self.gunicorn is not None
        return self.gunicorn.worker_pids()

    def kill(self) -> dt.datetime:
        """SIGKILL the master and every worker at once; when."""
        assert self.gunicorn is not None
        self.note_processes()
        self.gunicorn.kill()
        return self._ended()

    def terminate(self, timeout: float = 60.0) -> float:
        """SIGTERM the master (a process manager stopping the service) and wait until it exits; the seconds it took."""
        assert self.gunicorn is not None
        self.note_processes()
        took = self.gunicorn.terminate(timeout)
        self._ended()
        return took

    def stop(self) -> None:
        """Stop whatever still runs (the end of the scenario)."""
        if self.gunicorn is not None:
            self.note_processes()
            self.gunicorn.stop()

    def _ended(self) -> dt.datetime:
        moment = utc_now()
        for pid in self._pids:
            self.ended.setdefault(pid, moment)
        self._pids = set()
        return moment


class World:
    """The bridge under gunicorn (one or more instances on one store), with its own simulator and SMTP server."""

    def __init__(
        self,
        state: SimState,
        workdir: Path,
        name: str,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        timeout: int = 30,
        instances: int = 1,
        graceful_timeout: int = 5,
        redeliveries: int = CLASSMARKER_REDELIVERIES,
        classmarker: ClassMarkerAccount | None = None,
    ) -> None:
        self.simulator = FabmanSimulator(state)
        self.quizzes = quizzes_in(state)
        """Each course's quiz key: a result names the quiz it was taken through (contract 4.10)."""
        self.classmarker = ClassMarkerApiSimulator(classmarker) if classmarker is not None else None
        """ClassMarker's results API for the account, when the scenario reconciles; the bridge gets its credentials."""
        self.smtp = CountingSmtpSink()
        self.name = name
        self.workdir = workdir
        self.database_url = database_url or f"sqlite:///{workdir / f'{name}.sqlite3'}"
        self.fernet_key = Fernet.generate_key().decode("ascii")
        self.codec = CmUserIdCodec((self.fernet_key,))
        self.extra_env = env or {}
        self.timeout = timeout
        self.graceful_timeout = graceful_timeout
        self.redeliveries = redeliveries
        self.store = Store(self.database_url)
        self.instances: list[Instance] = []
        self.instance_count = instances
        self.requests = 0
        self.cron_calls = 0
        self.reconcile_calls = 0
        self.accepted: dict[int, list[int]] = {index: [] for index in range(instances)}
        """Event ids each instance answered `accepted` (stored and claimed by it), in answer order."""
        self._count_lock = threading.Lock()
        self._turns = itertools.count()
        self._local = threading.local()

    # -- lifecycle -------------------------------------------------------

    def __enter__(self) -> World:
        self.simulator.start()
        self.smtp.start()
        self.store.database.drop_all()
        polling: dict[str, str] = {}
        if self.classmarker is not None:
            self.classmarker.start()
            polling = {
                "CLASSMARKER_API_URL": self.classmarker.base_url,
                "CLASSMARKER_API_KEY": self.classmarker.account.api_key,
                "CLASSMARKER_API_SECRET": self.classmarker.account.api_secret,
            }
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
            **polling,
            **self.extra_env,
        }
        stem = self.workdir / self.name
        self.instances = [
            Instance(INSTANCE_NAMES[index], env, stem, timeout=self.timeout, graceful_timeout=self.graceful_timeout)
            for index in range(self.instance_count)
        ]
        try:
            self.start_instances(range(self.instance_count))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for instance in self.instances:
            instance.stop()
        self.simulator.stop()
        if self.classmarker is not None:
            self.classmarker.stop()
        self.smtp.stop()
        self.store.dispose()

    def start_instances(self, indexes: Iterable[int]) -> None:
        """Start (or start again) these instances at once, as a deployment brings its hosts up together."""
        chosen = [self.instances[index] for index in indexes]
        with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
            list(pool.map(Instance.start, chosen))

    @property
    def url(self) -> str:
        """The first instance's base URL."""
        return self.instances[0].url

    def worker_pids(self) -> list[int]:
        """The first instance's current worker processes."""
        return self.instances[0].worker_pids()

    def instance_of_owner(self, owner: str) -> Instance | None:
        """The instance whose process a job run's owner (`host:pid:random`) names, if any."""
        pid = owner_pid(owner)
        return next((instance for instance in self.instances if pid in instance.pids()), None)

    def owner_ended(self, owner: str) -> dt.datetime | None:
        """When the process named by a job run's owner was killed or stopped (None while it runs)."""
        instance = self.instance_of_owner(owner)
        pid = owner_pid(owner)
        return instance.ended.get(pid) if instance is not None and pid is not None else None

    # -- talking to the bridge ---------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def next_instance(self) -> int:
        """The instance whose turn it is (a round-robin balancer in front of them all)."""
        return next(self._turns) % len(self.instances)

    def post(self, path: str, *, instance: int | None = None, timeout: float = 60.0, **kwargs: Any) -> requests.Response:
        """One request to the bridge (to the instance whose turn it is, unless one is named), counted."""
        with self._count_lock:
            self.requests += 1
        target = self.instances[self.next_instance() if instance is None else instance]
        return self._session().post(target.url + path, timeout=timeout, **kwargs)

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
            quiz=self.quizzes[course_id],
        )
        return json.dumps(body).encode("utf-8")

    def deliver(self, body: bytes, *, instance: int | None = None) -> Delivery:
        """POST a result as ClassMarker does, delivering it again after a failure (as ClassMarker retries).

        The first try goes to `instance` (or whichever instance's turn it
        is); each re-delivery goes to the next instance, as a round-robin
        balancer would send it.
        """
        data, headers = signed(body)
        first = self.next_instance() if instance is None else instance
        started = time.perf_counter()
        last: Delivery | None = None
        for attempt in range(1, self.redeliveries + 1):
            target = (first + attempt - 1) % len(self.instances)
            sent = time.perf_counter()
            try:
                response = self.post("/add_classmarker_training", instance=target, data=data, headers=headers)
            except requests.RequestException:
                last = Delivery(None, {}, time.perf_counter() - sent, attempt, target)
            else:
                answer = response.json() if response.headers.get("Content-Type", "").startswith("application") else {}
                last = Delivery(response.status_code, answer, time.perf_counter() - sent, attempt, target)
                if response.status_code == 200:
                    if answer.get("status") == ACCEPTED and isinstance(answer.get("event_id"), int):
                        with self._count_lock:
                            self.accepted[target].append(answer["event_id"])
                    return last
            time.sleep(REDELIVERY_PAUSE_SECONDS)
        assert last is not None
        return Delivery(last.status, last.body, time.perf_counter() - started, last.tries, last.instance)

    def deliver_everywhere(self, body: bytes) -> list[Delivery]:
        """Deliver one result to every instance at the same moment (ClassMarker re-sending while the first is in flight)."""
        ready = threading.Barrier(len(self.instances))

        def one(index: int) -> Delivery:
            try:
                ready.wait(timeout=30)
            except threading.BrokenBarrierError:  # a partner never started; send anyway
                pass
            return self.deliver(body, instance=index)

        with ThreadPoolExecutor(max_workers=len(self.instances)) as pool:
            return list(pool.map(one, range(len(self.instances))))

    def deliver_all(
        self, bodies: Iterable[bytes], *, concurrency: int, pace: float = 0.0, everywhere: bool = False
    ) -> list[Delivery]:
        """Deliver many results from `concurrency` threads; `pace` seconds between submissions.

        With `everywhere` each result goes to every instance at once.
        """
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = []
            for body in bodies:
                if everywhere:
                    futures.append(pool.submit(self.deliver_everywhere, body))
                else:
                    futures.append(pool.submit(lambda b: [self.deliver(b)], body))
                if pace:
                    time.sleep(pace)
            return [delivery for future in futures for delivery in future.result()]

    def retry(self) -> dict[str, Any]:
        """One POST /cron/retry as the scheduler sends it."""
        with self._count_lock:
            self.cron_calls += 1
        response = self.post("/cron/retry", headers={"CronjobToken": CRON_TOKEN}, timeout=300)
        response.raise_for_status()
        return dict(response.json())

    def reconcile(self, *, instance: int | None = None) -> dict[str, Any]:
        """One POST /cron/reconcile as the scheduler sends it; its summary."""
        with self._count_lock:
            self.reconcile_calls += 1
        response = self.post("/cron/reconcile", instance=instance, headers={"CronjobToken": CRON_TOKEN}, timeout=300)
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

    def settle(self, *, deadline: float) -> Drain:
        """Wait, calling nothing, until the bridge's own jobs leave nothing to do, or the deadline passes."""
        started = time.monotonic()
        waited_for: set[str] = set()
        while True:
            left = self.backlog()
            if not any(left.values()) or time.monotonic() - started > deadline:
                return Drain(0, time.monotonic() - started, left, frozenset(waited_for))
            waited_for.update(kind for kind, count in left.items() if count)
            time.sleep(0.5)

    def admin_jobs(self, instance: int) -> list[dict[str, Any]]:
        """GET /admin/jobs of one instance, as staff see it."""
        staff = {"Authorization": f"Bearer {self.simulator.api_key}"}
        response = self._session().get(self.instances[instance].url + "/admin/jobs", headers=staff, timeout=30)
        response.raise_for_status()
        return list(response.json())

    # -- observing -------------------------------------------------------

    def backlog(self) -> dict[str, int]:
        """Inbox events still queued and messages still pending, per the store itself."""
        events, messages = self.store.inbox.counts(), self.store.outbox.counts()
        return {"queued events": events.get("queued", 0), "pending mails": messages.get("pending", 0)}

    def inbox(self) -> dict[str, str]:
        """Status per result key, every inbox row."""
        return self.store.inbox.keys()

    def queued_events(self) -> list[InboxEvent]:
        """Every queued inbox row, with its lease."""
        return self.store.inbox.events(status=EventStatus.QUEUED, limit=1_000_000)

    def outbox_statuses(self) -> dict[str, int]:
        """Outbox rows per status."""
        return self.store.outbox.counts()

    def job_runs(self) -> list[JobRunRow]:
        """Every recorded job run, newest first."""
        return self.store.jobs.runs(limit=1_000_000)


def owner_pid(owner: str) -> int | None:
    """The process id in an in-process job run's owner (`host:pid:random`); None for `cron` and `cli` runs."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1])
