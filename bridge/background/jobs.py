"""Scheduled jobs run by the bridge itself, once at a time across every worker and instance.

Each worker process runs a :class:`JobRunner` thread. On every tick it looks
at each job's last run in the store; a due job is taken by winning its lease
row (see :mod:`bridge.adapters.store.jobs`), checked again (another instance
may just have run it), run, and recorded with its summary or error. A long run
renews its lease; a worker that dies lets the lease end, and the job is free.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bridge.adapters.store import JobRunRow, Store
from bridge.answers import answer, described, json_object
from bridge.clock import Clock
from bridge.domain.schedule import Every, Schedule
from bridge.errors import JobRunning

log = logging.getLogger(__name__)

RUN_HISTORY_DAYS = 30
LOCK_POLL_SECONDS = 0.2
"""How often a cron or CLI caller looks whether a job another worker runs has ended."""
PAUSE_AFTER_FAILURE = 600.0
"""Seconds before a job whose run failed (or was cut off) is tried again, unless it runs more often anyway."""


JOB_NAMES = ("retry", "expiry_sweep", "reconciliation", "digest", "checkpoint", "purge")
"""Every job staff see, in the order they see them."""
STARTED = dt.datetime(2026, 12, 2, 9, 14, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Job:
    """A named use case, its schedule and how long one run may hold the job before its lease must be renewed.

    `run` returns the run's summary, an answer (recorded as JSON with the run)."""

    name: str
    schedule: Schedule
    run: Callable[[], object]
    lease_seconds: float = 120.0


@answer
class LastRun:
    """One run of a job."""

    started_at: dt.datetime = described(STARTED)
    finished_at: dt.datetime | None = described(STARTED.replace(microsecond=412000))
    seconds: float | None = described(0.412)
    by: str = described("bridge-7d9f:41:1a2b3c4d", "cron, cli, or the worker (host:pid:id) that ran it")
    summary: dict[str, Any] | None = described(
        {"processed": 1, "applied": 1, "mails_sent": 1}, "What the run did (the job's own counts)."
    )
    error: str | None = described(None)


@answer
class JobStatus:
    """One of the bridge's jobs: whether it runs in-process here, its schedule, its last run."""

    name: str = described("retry", enum=JOB_NAMES)
    enabled: bool = described(True)
    schedule: str | None = described("every 30 s")
    last_run: LastRun | None = described(description="Null: it never ran.")


def describe_run(run: JobRunRow) -> LastRun:
    """One job run for staff and scripts."""
    took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return LastRun(
        started_at=run.started_at,
        finished_at=run.finished_at,
        seconds=round(took, 3) if took is not None else None,
        by=run.owner,
        summary=run.summary,
        error=run.error,
    )


def process_owner() -> str:
    """Who holds a lease: host, process and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    """Runs due jobs from a daemon thread; `run_due()` does one pass (tests call it directly)."""

    def __init__(self, store: Store, jobs: list[Job], *, tz: ZoneInfo, clock: Clock, tick_seconds: float = 5.0) -> None:
        self.store = store
        self.jobs = {job.name: job for job in jobs}
        self.tz = tz
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.owner = process_owner()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_on: dt.date | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="bridge-jobs", daemon=True)
        self._thread.start()
        log.info("in-process jobs started: %s", ", ".join(f"{j.name} ({j.schedule.describe()})" for j in self.jobs.values()))

    def stopping(self) -> bool:
        """Whether this runner was told to stop (a long job checks it between its items)."""
        return self._stop.is_set()

    def stop(self, timeout: float) -> None:
        """Stop taking jobs; wait up to `timeout` s for a running one to end (its lease is released)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("a job is still running at shutdown; its lease ends by itself")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:
                log.debug("job pass ended with an error", exc_info=True)
            self._stop.wait(self.tick_seconds)

    def run_due(self) -> list[str]:
        """Run every job that is due and free; the names of those run."""
        ran = []
        for job in self.jobs.values():
            if self._stop.is_set():
                break
            if not self._due(job):
                continue
            try:
                summary = self.run(job, by=self.owner, only_if=functools.partial(self._due_now, job))
            except Exception:
                log.debug("job %s ended with an error", job.name, exc_info=True)
                continue
            if summary is not None:
                ran.append(job.name)
        return ran

    def run(
        self,
        job: Job,
        *,
        by: str,
        call: Callable[[], object] | None = None,
        only_if: Callable[[], bool] | None = None,
        wait_seconds: float = 0.0,
    ) -> object | None:
        """THE way a job runs, whoever starts it (the schedule, a cron endpoint, a `flask` command).

        Takes the job's lease (waiting up to `wait_seconds` while another
        worker or instance holds it; JobRunning after that), checks `only_if`
        under it (None: the run was not needed after all), renews the lease
        while `call` (the job's own use case unless given) runs, records the
        run as started `by` with its summary or error, and gives the lease
        back. Returns the summary; an error is recorded, logged and re-raised.
        """
        holder = self.owner if by == self.owner else f"{by}@{self.owner}"
        deadline = time.monotonic() + wait_seconds
        while not self.store.jobs.take(job.name, holder, job.lease_seconds):
            if time.monotonic() >= deadline:
                if wait_seconds:
                    raise JobRunning(f"job {job.name} is running in another worker or instance; try again later")
                return None
            time.sleep(LOCK_POLL_SECONDS)  # the holder renews or releases its lease; nothing tells this process
        heartbeat: _Heartbeat | None = None
        try:
            if only_if is not None and not only_if():
                return None
            heartbeat = _Heartbeat(self.store, job, holder)
            return self._record(job.name, by, call or job.run)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            self.store.jobs.release(job.name, holder)

    def _due_now(self, job: Job) -> bool:
        """Checked again under the lease (another instance may just have run it), and not a first start."""
        return self._due(job) and not self._first_start(job)

    def _first_start(self, job: Job) -> bool:
        """A daily or weekly job that never ran waits for its next scheduled time.

        Run at once, a fresh bridge deployed at noon would sweep at noon and mail
        staff a digest on a Thursday; instead the runner records a first, empty
        run (its summary says why), and the schedule counts from there.
        """
        if isinstance(job.schedule, Every) or self.store.jobs.last_run(job.name) is not None:
            return False
        run_id = self.store.jobs.start_run(job.name, self.owner)
        self.store.jobs.finish_run(
            run_id, summary={"first_start": f"waiting for the first scheduled run ({job.schedule.describe()})"}
        )
        log.info("job %s: first start, waiting for its first scheduled run (%s)", job.name, job.schedule.describe())
        return True

    def _due(self, job: Job) -> bool:
        """Due by its schedule, counted from the last run that succeeded; after a failed or
        interrupted run, tried again after a pause (so a sweep that met a Fabman outage at 03:15
        runs again that morning, not the next day)."""
        now = self.clock.now()
        last = self.store.jobs.last_run(job.name)
        if last is not None and (last.error is not None or last.finished_at is None):
            if (now - last.started_at).total_seconds() < _pause_after_failure(job):
                return False
        succeeded = (
            last
            if last is not None and last.finished_at and last.error is None
            else self.store.jobs.last_run(job.name, succeeded=True)
        )
        return job.schedule.due(succeeded.started_at if succeeded else None, now, self.tz)

    def _record(self, name: str, owner: str, run: Callable[[], object]) -> object:
        """Run a job's use case and record the run; its summary (an error is recorded, logged and re-raised)."""
        run_id = self.store.jobs.start_run(name, owner)
        try:
            summary = run()
        except Exception as error:
            self.store.jobs.finish_run(run_id, error=f"{type(error).__name__}: {error}")
            log.exception("job %s failed", name)
            if owner == self.owner:  # the schedule tries again after the pause; a caller hears of it
                log.warning("job %s will be tried again in %.0f s", name, _pause_after_failure(self.jobs[name]))
            raise
        recorded = json_object(summary)
        self.store.jobs.finish_run(run_id, summary=recorded)
        self._prune_daily()
        log.info("job %s done (%s): %s", name, owner, _short(recorded))
        return summary

    def _prune_daily(self) -> None:
        today = self.clock.now().date()
        if self._pruned_on != today:
            self._pruned_on = today
            self.store.jobs.prune_runs(dt.timedelta(days=RUN_HISTORY_DAYS))


def _pause_after_failure(job: Job) -> float:
    """How long after a failed run a job is tried again: its own interval when shorter than the pause."""
    interval = getattr(job.schedule, "seconds", None)
    return min(PAUSE_AFTER_FAILURE, interval) if interval is not None else PAUSE_AFTER_FAILURE


def _short(summary: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in summary.items() if isinstance(value, int | float | str) and value)[:300]


class _Heartbeat:
    """Renews a running job's lease at a third of its length, until stopped."""

    def __init__(self, store: Store, job: Job, owner: str) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(store, job, owner), name=f"lease-{job.name}", daemon=True)
        self._thread.start()

    def _beat(self, store: Store, job: Job, owner: str) -> None:
        while not self._done.wait(job.lease_seconds / 3):
            try:
                store.jobs.renew(job.name, owner, job.lease_seconds)
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.warning("could not renew the lease of job %s", job.name)

    def stop(self) -> None:
        self._done.set()
