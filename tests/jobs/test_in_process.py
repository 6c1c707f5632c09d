"""Contract section 10 and rule 4.4 through gunicorn: the bridge finishes its own work with no outside scheduler.

Each test serves `gunicorn main_run:app` (workers run the in-process jobs) on
the test store, against the Fabman simulator and the SMTP sink, and looks at
the world: the training in Fabman, the mail in the mailbox, the rows in the store.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.store import Store
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import GunicornBridge, SmtpSink
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator

pytestmark = pytest.mark.e2e

PETRA, JAN, LASER, CNC = 1, 2, 2, 4
PETRA_MAIL, JAN_MAIL = "petra.dvorakova@example.org", "jan.novak@example.org"
WEBHOOK = "/add_classmarker_training"
TICK = 1.0  # the job runner's tick is min(5 s, RETRY_EVERY_SECONDS)


@pytest.fixture
def jobs_env(env: dict[str, str]) -> dict[str, str]:
    """The bridge runs its jobs: retry every second, backoff from one second, no nightly sweep."""
    return {
        **env,
        "JOBS": "on",
        "RETRY_EVERY_SECONDS": "1",
        "RETRY_BASE_SECONDS": "1",
        "SWEEP_AT": "off",
        "FABMAN_TIMEOUT_SECONDS": "2",
    }


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Store]:
    """The store the served bridge uses, read by the test."""
    store = Store(env["DATABASE_URL"])
    store.migrate()
    yield store
    store.dispose()


def deliver(
    url: str, env: dict[str, str], member_id: int, course_id: int, result_id: int, *, passed: bool = True
) -> dict[str, str]:
    token = CmUserIdCodec([env["FERNET_KEY"]]).encode(member_id, course_id)
    body, headers = signed(result_payload(token, result_id=result_id, passed=passed, quiz=quiz_of(course_id)))
    response = requests.post(url + WEBHOOK, data=body, headers=headers, timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def laser_records(simulator: FabmanSimulator) -> list[dict[str, object]]:
    return [r for r in simulator.state.trainings_of(PETRA) if r["trainingCourse"] == LASER]


def test_a_result_queued_while_fabman_was_down_is_applied_by_the_bridge_itself_once_fabman_is_back(
    jobs_env: dict[str, str], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    simulator.faults.down = True
    with GunicornBridge(jobs_env, workers=2, threads=4) as bridge:
        answer = deliver(bridge.url, jobs_env, PETRA, LASER, 88123401)
        assert answer["status"] == "accepted"

        def tried_and_waiting() -> bool:
            event = store.inbox.get(int(answer["event_id"]))
            return event is not None and event.status == "queued" and event.lease_until is None and event.attempts >= 1

        wait_until(tried_and_waiting, timeout=30, what="the first try to fail and the event to wait in the queue")
        simulator.faults.down = False
        back = dt.datetime.now(dt.UTC)
        waiting = store.inbox.get(int(answer["event_id"]))
        assert waiting is not None and waiting.next_attempt_at is not None

        applied = wait_until(
            lambda: (event := store.inbox.get(int(answer["event_id"]))) is not None and event.status == "applied" and event,
            timeout=60,
            what="the retry job to apply the result",
        )
        wait_until(lambda: len(smtp.to(PETRA_MAIL)) == 1, timeout=30, what="the member's mail")
        jobs = requests.get(bridge.url + "/admin/jobs", headers={"Authorization": simulator.api_key}, timeout=10).json()

    # Within RETRY_EVERY_SECONDS (and a tick) of the moment its backoff allowed a try, Fabman being back by then.
    allowed_from = max(back, waiting.next_attempt_at)
    assert applied.updated_at <= allowed_from + dt.timedelta(seconds=1 + TICK + 5)  # 5 s for a loaded 2-core machine
    assert [r["notes"] for r in laser_records(simulator) if "#88123401" in str(r["notes"])] != []
    assert len([r for r in laser_records(simulator) if "#88123401" in str(r["notes"])]) == 1
    assert "Training completed" in str(smtp.to(PETRA_MAIL)[0]["Subject"])
    retry = next(job for job in jobs if job["name"] == "retry")
    assert retry["enabled"] is True and retry["schedule"] == "every 1 s"
    assert retry["last_run"]["by"] not in {"cron", "cli"} and retry["last_run"]["error"] is None
    assert [run.owner for run in store.jobs.runs(limit=1000) if run.owner in {"cron", "cli"}] == []


def test_several_workers_never_run_the_same_job_at_once(
    jobs_env: dict[str, str], simulator: FabmanSimulator, store: Store
) -> None:
    with GunicornBridge(jobs_env, workers=3, threads=2):
        wait_until(lambda: len(store.jobs.runs(name="retry", limit=1000)) >= 8, timeout=60, what="eight retry runs")

    runs = sorted(store.jobs.runs(name="retry", limit=1000), key=lambda run: run.started_at)
    finished = [run for run in runs if run.finished_at is not None]
    assert len(finished) >= 8
    for earlier, later in zip(finished, finished[1:], strict=False):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, (earlier.owner, later.owner)
    assert all(run.error is None for run in finished)


def test_sigterm_during_a_burst_loses_nothing_and_the_next_start_finishes_the_rest(
    jobs_env: dict[str, str], env: dict[str, str], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    """A slow Fabman keeps the pool busy; SIGTERM lets workers finish or give back what they accepted."""
    simulator.faults.latency_ms = 300
    results = range(7_000_001, 7_000_041)
    with GunicornBridge({**env, "FABMAN_CONCURRENCY": "2"}, workers=2, threads=8) as first:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda result_id: deliver(first.url, env, JAN, CNC, result_id, passed=False), results))
        assert {answer["status"] for answer in answers} <= {"accepted", "queued"}
        os.killpg(first.pid, signal.SIGTERM)
        wait_until(lambda: first.process is not None and first.process.poll() is not None, timeout=60, what="gunicorn to stop")

    events = store.inbox.events(limit=100)
    assert len(events) == 40
    assert [event.id for event in events if event.lease_until is not None and event.status == "queued"] == []
    simulator.faults.latency_ms = 0

    with GunicornBridge(jobs_env, workers=2, threads=2):
        wait_until(lambda: store.inbox.counts() == {"applied": 40}, timeout=120, what="every result applied")
        wait_until(lambda: len(smtp.to(JAN_MAIL)) == 40, timeout=60, what="forty mails to Jan")

    [jan] = [m for m in simulator.state.members() if m["id"] == JAN]
    counted = next(entry for entry in jan["metadata"]["courses_cm"]["failed_courses"] if entry["id"] == CNC)
    assert counted["attempts"] == 2 + 40  # the seed's two earlier failures, then each result once
    assert len({str(message["Message-ID"]) for message in smtp.to(JAN_MAIL)}) == 40


def test_a_burst_larger_than_the_appliers_is_applied_at_once_not_at_the_next_retry_tick(
    jobs_env: dict[str, str], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    """Issue 20: what does not fit the appliers waits in the inbox only until one is free (the tick is 30 s)."""
    simulator.faults.latency_ms = 20
    env = {**jobs_env, "RETRY_EVERY_SECONDS": "30", "FABMAN_CONCURRENCY": "2"}
    results = range(7_100_001, 7_100_031)
    with GunicornBridge(env, workers=2, threads=8) as bridge:
        wait_until(lambda: store.jobs.last_run("retry") is not None, timeout=30, what="the first retry run")
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda result_id: deliver(bridge.url, env, JAN, CNC, result_id, passed=False), results))
        sent = dt.datetime.now(dt.UTC)
        assert "queued" in {answer["status"] for answer in answers}  # more than the appliers hold at once
        wait_until(lambda: store.inbox.counts() == {"applied": 30}, timeout=25, what="every result applied before the next tick")
        done = dt.datetime.now(dt.UTC)
        retries = len(store.jobs.runs(name="retry", limit=1000))

    assert (done - sent).total_seconds() < 25
    assert retries == 1  # no retry run came in between: the appliers drained the inbox themselves
    [jan] = [m for m in simulator.state.members() if m["id"] == JAN]
    counted = next(entry for entry in jan["metadata"]["courses_cm"]["failed_courses"] if entry["id"] == CNC)
    assert counted["attempts"] == 2 + 30  # one member's results one after another: no lockVersion lost
