"""Liveness and readiness for the platform's health checks."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response

from bridge.answers import answer, described
from bridge.application import bridge_of
from bridge.background.jobs import STARTED, LastRun
from bridge.services.reconcile import ReconcileStatus
from bridge.web.openapi import PROBLEM_JSON, answers, operation, respond
from bridge.web.problems import Problem, problem_response

blueprint = Blueprint("health", __name__)

VERIFICATION_OFF = (
    "ClassMarker verification is off (VERIFY_CLASSMARKER_REQUESTS=false): results are accepted without a signature, "
    "so anyone can post a passed result. Production (BE_ENV=prod) refuses to start this way."
)
CHECKS = {"store": True, "webhook_secret": True, "cronjob_token": True, "mail_sender": True}


@answer
class Liveness:
    """The process runs."""

    status: str = described("ok")


@answer
class JobRunSeen:
    """A job's last run as readiness shows it: when, how long, and whether it failed."""

    started_at: dt.datetime = described(STARTED)
    seconds: float | None = described(0.412)
    ok: bool = described(True)


@answer
class JobReadiness:
    """Whether a job runs in-process here, and its last run (null: never run)."""

    enabled: bool = described(True)
    last_run: JobRunSeen | None = described()


@answer
class Readiness:
    """The store answers and the configuration is complete; what works but is unsafe, each job, reconciliation."""

    status: str = described("ready")
    checks: dict[str, bool] = described(CHECKS)
    classmarker_verification: bool = described(
        True, "VERIFY_CLASSMARKER_REQUESTS: false only outside prod, and then `warnings` says so."
    )
    warnings: list[str] = described([], "What works but is unsafe, e.g. ClassMarker verification off.")
    jobs: dict[str, JobReadiness] = described(
        {"retry": JobReadiness(enabled=True, last_run=None)},
        "Each job: whether it runs in-process here, and its last run (null: never run).",
    )
    reconciliation: ReconcileStatus = described()


@answer
class NotReady(Problem):
    """Something the bridge needs is missing; `checks` says what."""

    checks: dict[str, bool] = described({**CHECKS, "store": False})


@blueprint.get("/health")
@operation("operations")
@answers(200, Liveness, "Alive.")
def health() -> Response:
    """The process runs."""
    return respond(Liveness(status="ok"))


@blueprint.get("/ready")
@operation("operations")
@answers(200, Readiness, "Ready to serve every client.")
@answers(503, NotReady, "Something the bridge needs is missing; `checks` says what.", content_type=PROBLEM_JSON)
def ready() -> Response:
    """The store answers and the configuration is complete."""
    found = bridge_of()
    settings = found.settings
    checks: dict[str, bool] = {}
    try:
        found.store.ping()
        checks["store"] = True
    except Exception:  # noqa: BLE001 - any failure means not ready
        checks["store"] = False
    checks["webhook_secret"] = bool(settings.classmarker_webhook_secret) or not settings.verify_classmarker_requests
    checks["cronjob_token"] = bool(settings.cronjob_token)
    checks["mail_sender"] = bool(settings.mail_default_sender)
    failing = [name for name, passed in checks.items() if not passed]
    if failing:
        return problem_response(503, "Not ready", f"failing checks: {', '.join(failing)}", "not-ready", checks=checks)
    return respond(
        Readiness(
            status="ready",
            checks=checks,
            classmarker_verification=settings.verify_classmarker_requests,
            warnings=[] if settings.verify_classmarker_requests else [VERIFICATION_OFF],
            jobs={job.name: JobReadiness(enabled=job.enabled, last_run=_when(job.last_run)) for job in found.job_status()},
            reconciliation=found.reconciliation_status(),
        )
    )


def _when(run: LastRun | None) -> JobRunSeen | None:
    """A job's last run as /ready shows it: when, how long, and whether it failed."""
    if run is None:
        return None
    return JobRunSeen(started_at=run.started_at, seconds=run.seconds, ok=run.error is None and run.finished_at is not None)
