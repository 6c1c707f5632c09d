"""The bridge's own jobs and its apply pool, on a real SQLite store with a settable clock.

Jobs: a due job runs once however many runners race for it, every run is
recorded with its summary or error, and a dead owner's lease ends. The pool:
bounded, and on shutdown it gives back what it has not started.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.adapters.store import InboxEvent, Store
from bridge.background import Applier, Job, JobRunner
from bridge.clock import SettableClock
from bridge.domain.schedule import DailyAt, Every
from bridge.domain.statuses import EventStatus
from harness.wait import wait_until

PRAGUE = ZoneInfo("Europe/Prague")


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(tmp_path: Path, clock: SettableClock) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'bridge.sqlite3'}", clock=clock)
    store.migrate()
    yield store
    store.dispose()


class Counting:
    """A job body that counts its runs and can be made to fail or to wait for a signal."""

    def __init__(self) -> None:
        self.runs = 0
        self.fail: Exception | None = None
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def __call__(self) -> dict[str, Any]:
        self.runs += 1
        self.started.set()
        assert self.release.wait(10), "the test never let the job finish"
        if self.fail is not None:
            raise self.fail
        return {"processed": self.runs}


def runner(store: Store, clock: SettableClock, *jobs: Job) -> JobRunner:
    return JobRunner(store, list(jobs), tz=PRAGUE, clock=clock)


def test_a_due_job_runs_and_its_run_is_recorded(store: Store, clock: SettableClock) -> None:
    body = Counting()
    jobs = runner(store, clock, Job("retry", Every(30), body))

    assert jobs.run_due() == ["retry"]
    assert jobs.run_due() == []  # not due again yet
    clock.advance(seconds=30)
    assert jobs.run_due() == ["retry"]

    assert body.runs == 2
    latest = store.jobs.latest_runs()["retry"]
    assert (latest.summary, latest.error, latest.owner) == ({"processed": 2}, None, jobs.owner)
    assert latest.started_at == latest.finished_at == clock.now()
    assert len(store.jobs.runs(name="retry")) == 2


def test_a_daily_job_that_never_ran_waits_for_its_first_scheduled_time(store: Store, clock: SettableClock) -> None:
    body = Counting()
    jobs = runner(store, clock, Job("expiry_sweep", DailyAt(dt.time(3, 15)), body))  # started at 10:00 in Prague

    assert jobs.run_due() == []
    first = store.jobs.last_run("expiry_sweep")
    assert first is not None and first.summary == {"first_start": "waiting for the first scheduled run (daily at 03:15)"}
    clock.set(dt.datetime(2026, 3, 3, 2, 14, tzinfo=dt.UTC))  # 03:14 next morning
    assert jobs.run_due() == []
    clock.advance(minutes=1)
    assert jobs.run_due() == ["expiry_sweep"]
    assert body.runs == 1


def test_a_failing_run_is_recorded_with_its_error_and_tried_again_after_a_pause(store: Store, clock: SettableClock) -> None:
    body = Counting()
    body.fail = RuntimeError("Fabman answered 500")
    jobs = runner(store, clock, Job("expiry_sweep", DailyAt(dt.time(3, 15)), body))
    jobs.run_due()  # the first start only records that it waits for 03:15
    clock.set(dt.datetime(2026, 3, 3, 2, 15, tzinfo=dt.UTC))  # 03:15 in Prague

    jobs.run_due()
    failed = store.jobs.last_run("expiry_sweep")
    assert failed is not None and failed.error == "RuntimeError: Fabman answered 500" and failed.summary is None
    clock.advance(seconds=599)
    assert jobs.run_due() == []  # not hammering Fabman
    body.fail = None
    clock.advance(seconds=1)
    assert jobs.run_due() == ["expiry_sweep"]  # the same morning, not tomorrow
    assert jobs.run_due() == []
    assert body.runs == 2


def test_a_run_cut_off_by_a_dead_worker_is_run_again_after_the_pause(store: Store, clock: SettableClock) -> None:
    store.jobs.start_run("expiry_sweep", "host:1:dead")  # started, never finished
    body = Counting()
    jobs = runner(store, clock, Job("expiry_sweep", DailyAt(dt.time(3, 15)), body))

    assert jobs.run_due() == []
    clock.advance(minutes=10)
    assert jobs.run_due() == ["expiry_sweep"]


def test_two_runners_racing_for_a_due_job_run_it_once(store: Store, clock: SettableClock) -> None:
    body = Counting()
    body.release.clear()
    first = runner(store, clock, Job("retry", Every(30), body))
    second = runner(store, clock, Job("retry", Every(30), body))
    results: list[list[str]] = []
    worker = threading.Thread(target=lambda: results.append(first.run_due()))
    worker.start()
    assert body.started.wait(10)

    assert second.run_due() == []  # the first holds the lease while it runs

    body.release.set()
    worker.join(10)
    assert results == [["retry"]]
    assert second.run_due() == []  # and then it is no longer due
    assert body.runs == 1


def test_a_lease_left_by_a_dead_owner_ends_and_the_job_is_free_again(store: Store, clock: SettableClock) -> None:
    assert store.jobs.take("retry", "host:1:dead", 120)
    body = Counting()
    jobs = runner(store, clock, Job("retry", Every(30), body))

    assert jobs.run_due() == []
    clock.advance(seconds=121)
    assert jobs.run_due() == ["retry"]


def test_runs_older_than_thirty_days_are_forgotten(store: Store, clock: SettableClock) -> None:
    jobs = runner(store, clock, Job("retry", Every(30), Counting()))
    jobs.run_due()
    clock.advance(days=31)

    jobs.run_due()

    assert [run.started_at for run in store.jobs.runs(name="retry")] == [clock.now()]


def receive(store: Store, key: str, *, claim: bool, member_id: int | None = None) -> InboxEvent:
    event, _ = store.inbox.receive(
        result_key=key,
        status=EventStatus.QUEUED,
        passed=True,
        test_name="Laser",
        payload="{}",
        member_id=member_id,
        claim_seconds=60 if claim else None,
    )
    return event


def test_the_pool_is_bounded_and_gives_back_on_shutdown_what_it_has_not_started(store: Store) -> None:
    gate = threading.Event()
    applied: list[int] = []

    def apply(event: InboxEvent) -> None:
        assert gate.wait(10)
        applied.append(event.id)
        store.inbox.mark_applied(event.id, "failed")

    def claim(limit: int, *, fresh_only: bool, exclude: Sequence[int]) -> list[InboxEvent]:
        return store.inbox.claim_due(limit, 60, fresh_only=fresh_only, exclude=exclude)

    pool = Applier(2, apply=apply, claim=claim, release=store.inbox.release)
    slots = [pool.reserve() for _ in range(3)]
    assert slots == [True, True, False]  # at most FABMAN_CONCURRENCY results held per process
    running, waiting = receive(store, "a", claim=True, member_id=1), receive(store, "b", claim=True, member_id=2)
    pool.submit(running)
    pool.cancel()
    wait_until(lambda: pool.busy() == 1 and applied == [] and pool.reserve(), timeout=10, what="the first result started")
    pool.submit(waiting)  # the second applier is free, but the test holds the first inside apply; the second takes this
    assert store.inbox.due_ids() == []  # both claimed by this process

    threading.Timer(0.2, gate.set).start()
    pool.shutdown(timeout=10)

    assert sorted(applied) in ([running.id], [running.id, waiting.id])  # what was started finished
    assert pool.reserve() is False  # a stopped pool takes nothing
    assert [event.id for event in store.inbox.events() if event.lease_until is not None and event.status == "queued"] == []


def test_a_claimed_event_is_not_taken_by_the_retry_job_until_its_lease_ends(store: Store, clock: SettableClock) -> None:
    claimed = receive(store, "a", claim=True)

    assert (claimed.attempts, store.inbox.due_ids()) == (1, [])
    clock.advance(seconds=61)
    assert store.inbox.due_ids() == [claimed.id]


def test_a_full_pool_makes_the_next_result_wait_for_an_applier_and_only_so_long(store: Store) -> None:
    release = threading.Event()
    started = threading.Event()

    def apply(event: InboxEvent) -> None:
        started.set()
        assert release.wait(30)
        store.inbox.mark_applied(event.id, "failed")

    def claim(limit: int, *, fresh_only: bool, exclude: Sequence[int]) -> list[InboxEvent]:
        return store.inbox.claim_due(limit, 60, fresh_only=fresh_only, exclude=exclude)

    pool = Applier(1, apply=apply, claim=claim, release=store.inbox.release)
    assert pool.reserve()
    pool.submit(receive(store, "a", claim=True, member_id=1))
    assert started.wait(10)

    assert pool.reserve(wait=0.05) is False  # still busy when the wait ends: the webhook stores the result queued

    answered: list[bool] = []
    waiting = threading.Thread(target=lambda: answered.append(pool.reserve(wait=30)))
    waiting.start()
    wait_until(lambda: not waiting.is_alive() or pool.busy() == 1, timeout=10, what="the second result waiting")
    assert answered == []  # it waits while the applier is busy
    release.set()
    waiting.join(30)
    assert answered == [True]  # and takes the applier the first result left
    pool.cancel()
    pool.shutdown(timeout=10)
