"""Issue 20, contract section 10: the schedule, the cron endpoints and the CLI start a job through one function.

It takes the job's lock, records the run (start, end, summary, error, who)
and returns the summary, for every job, the digest included; a job turned
off is not scheduled at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import bridge_of


def runs(app: Flask, name: str) -> list[tuple[str, dict[str, object] | None, str | None]]:
    """(who, summary, error) of each run of one job, oldest first."""
    listed = bridge_of(app).store.jobs.runs(name=name, limit=100)
    return [(run.owner, run.summary, run.error) for run in reversed(listed) if run.finished_at is not None]


def test_the_schedule_the_cron_endpoint_and_the_cli_record_a_retry_run_the_same_way(
    make_app: Callable[..., Flask], cron_headers: dict[str, str]
) -> None:
    app = make_app(JOBS="on", SWEEP_AT="off", DIGEST_WEEKDAY="off")
    bridge = bridge_of(app)

    assert bridge.jobs.run_due() == ["retry"]
    by_cron = app.test_client().post("/cron/retry", headers=cron_headers).json
    by_cli = app.test_cli_runner().invoke(args=["retry"])

    assert by_cli.exit_code == 0, by_cli.output
    recorded = runs(app, "retry")
    assert [owner for owner, _, _ in recorded] == [bridge.jobs.owner, "cron", "cli"]
    assert recorded[1][1] == by_cron
    assert all(error is None for _, _, error in recorded)
    assert {key for _, summary, _ in recorded for key in (summary or {})} >= {"processed", "applied", "waiting"}
    assert bridge.store.jobs.latest_runs()["retry"].owner == "cli"


def test_flask_digest_is_recorded_as_a_run_of_the_digest_job_and_a_dry_run_is_not(app: Flask, runner: FlaskCliRunner) -> None:
    dry = runner.invoke(args=["digest", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert runs(app, "digest") == []

    sent = runner.invoke(args=["digest"])

    assert sent.exit_code == 0, sent.output
    [(owner, summary, error)] = runs(app, "digest")
    assert (owner, error) == ("cli", None)
    assert summary is not None and summary["status"] == "queued" and summary["subject"] in sent.output


def test_a_cron_run_waits_while_another_worker_holds_the_job_and_never_runs_beside_it(
    app: Flask, client: FlaskClient, cron_headers: dict[str, str]
) -> None:
    store = bridge_of(app).store
    assert store.jobs.take("retry", "other-host:1:abcd", 120)  # another instance is running the retry job
    released: list[float] = []

    def other_instance_finishes() -> None:
        store.jobs.release("retry", "other-host:1:abcd")
        released.append(time.monotonic())

    threading.Timer(0.5, other_instance_finishes).start()

    answer = client.post("/cron/retry", headers=cron_headers)
    answered = time.monotonic()

    assert answer.status_code == 200
    assert released and answered >= released[0]  # it waited for the lock instead of running beside the other
    [run] = store.jobs.runs(name="retry")
    assert run.owner == "cron" and run.finished_at is not None


EVIDENCE_JOBS = {"checkpoint", "purge"}


@pytest.mark.parametrize(
    ("settings", "scheduled"),
    [
        ({}, {"retry", "expiry_sweep", "digest", *EVIDENCE_JOBS}),
        ({"SWEEP_AT": "off"}, {"retry", "digest", *EVIDENCE_JOBS}),
        ({"DIGEST_WEEKDAY": "off"}, {"retry", "expiry_sweep", *EVIDENCE_JOBS}),
        ({"CHECKPOINT_AT": "off"}, {"retry", "expiry_sweep", "digest", "purge"}),
        ({"PAYLOAD_RETENTION_DAYS": "off", "MAIL_RETENTION_DAYS": "off"}, {"retry", "expiry_sweep", "digest", "checkpoint"}),
        (
            {"CLASSMARKER_API_KEY": "k", "CLASSMARKER_API_SECRET": "s"},
            {"retry", "expiry_sweep", "digest", "reconciliation", *EVIDENCE_JOBS},
        ),
    ],
    ids=["defaults", "SWEEP_AT=off", "DIGEST_WEEKDAY=off", "CHECKPOINT_AT=off", "retention off", "ClassMarker keys"],
)
def test_a_job_turned_off_is_not_scheduled_at_all(
    make_app: Callable[..., Flask], settings: dict[str, str], scheduled: set[str]
) -> None:
    bridge = bridge_of(make_app(JOBS="on", **settings))

    assert set(bridge.jobs.jobs) == scheduled
    listed = {job.name: job.enabled for job in bridge.job_status()}
    assert {name for name, enabled in listed.items() if enabled} == scheduled
