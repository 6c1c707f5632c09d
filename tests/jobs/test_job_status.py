"""Contract section 10: which jobs a configuration runs, as `GET /admin/jobs` and `/ready` tell staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

API_KEYS = {"CLASSMARKER_API_KEY": "cm-key", "CLASSMARKER_API_SECRET": "cm-secret"}


def jobs_of(app: Flask, api_headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = app.test_client().get("/admin/jobs", headers=api_headers).json
    return {job["name"]: job for job in listed}


def test_every_job_is_listed_with_its_schedule_and_never_run(make_app: Callable[..., Flask], api_headers: dict[str, str]) -> None:
    jobs = jobs_of(make_app(JOBS="on", **API_KEYS), api_headers)

    assert {name: (job["enabled"], job["schedule"], job["last_run"]) for name, job in jobs.items()} == {
        "retry": (True, "every 30 s", None),
        "expiry_sweep": (True, "daily at 03:15", None),
        "reconciliation": (True, "every 900 s", None),
        "digest": (True, "weekly on mon at 07:00", None),
        "checkpoint": (True, "daily at 02:45", None),
        "purge": (True, "daily at 03:45", None),
    }


def test_switched_off_jobs_and_reconciliation_without_credentials_are_not_run(
    make_app: Callable[..., Flask], api_headers: dict[str, str]
) -> None:
    switched_off = {"SWEEP_AT": "off", "DIGEST_WEEKDAY": "off", "CHECKPOINT_AT": "off"}
    jobs = jobs_of(make_app(JOBS="on", PAYLOAD_RETENTION_DAYS="off", MAIL_RETENTION_DAYS="off", **switched_off), api_headers)

    assert {name: job["enabled"] for name, job in jobs.items()} == {
        "retry": True,
        "expiry_sweep": False,
        "reconciliation": False,
        "digest": False,
        "checkpoint": False,
        "purge": False,
    }


def test_a_cron_run_is_recorded_as_the_jobs_last_run(
    make_app: Callable[..., Flask], api_headers: dict[str, str], cron_headers: dict[str, str]
) -> None:
    app = make_app(JOBS="off")

    summary = app.test_client().post("/cron/retry", headers=cron_headers).json
    jobs = jobs_of(app, api_headers)

    retry = jobs["retry"]
    assert retry["enabled"] is False  # JOBS=off: only the scheduler runs it
    assert (retry["last_run"]["by"], retry["last_run"]["summary"], retry["last_run"]["error"]) == ("cron", summary, None)
    assert app.test_client().get("/ready").json["jobs"]["retry"]["last_run"]["ok"] is True
