"""Liveness and readiness for the platform's health checks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from bridge.application import bridge_of
from bridge.web.problems import problem_response

blueprint = Blueprint("health", __name__)

VERIFICATION_OFF = (
    "ClassMarker verification is off (VERIFY_CLASSMARKER_REQUESTS=false): results are accepted without a signature, "
    "so anyone can post a passed result. Production (BE_ENV=prod) refuses to start this way."
)


@blueprint.get("/health")
def health() -> Response:
    """The process runs.
    ---
    tags: [operations]
    security: []
    responses:
      200:
        description: Alive.
        content:
          application/json:
            schema: {type: object, properties: {status: {type: string, example: ok}}}
    """
    return jsonify({"status": "ok"})


@blueprint.get("/ready")
def ready() -> Response:
    """The store answers and the configuration is complete.
    ---
    tags: [operations]
    security: []
    responses:
      200:
        description: Ready to serve every client.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Readiness'}
      503:
        description: Something the bridge needs is missing; `checks` says what.
        content:
          application/problem+json:
            schema:
              allOf:
                - {$ref: '#/components/schemas/Problem'}
                - {type: object, properties: {checks: {type: object, additionalProperties: {type: boolean}}}}
    """
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
    jobs = {job["name"]: {"enabled": job["enabled"], "last_run": _when(job["last_run"])} for job in found.job_status()}
    warnings = [] if settings.verify_classmarker_requests else [VERIFICATION_OFF]
    return jsonify(
        {
            "status": "ready",
            "checks": checks,
            "classmarker_verification": settings.verify_classmarker_requests,
            "warnings": warnings,
            "jobs": jobs,
            "reconciliation": found.reconciliation_status(),
        }
    )


def _when(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job's last run as /ready shows it: when, how long, and whether it failed."""
    if run is None:
        return None
    ok = run["error"] is None and run["finished_at"] is not None
    return {"started_at": run["started_at"], "seconds": run["seconds"], "ok": ok}
