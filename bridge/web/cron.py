"""Endpoints the scheduler calls with the `CronjobToken` header."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.application import bridge_of
from bridge.web.auth import require_cron_token
from bridge.web.inputs import flag, json_object, positive_id, unix_seconds
from bridge.web.openapi import problems
from bridge.web.shapes import ExpiryNotice, ExpirySummary, shape

blueprint = Blueprint("cron", __name__)


@blueprint.post("/cron/retry")
@require_cron_token
@problems(401, not_configured=True, job=True)
def retry() -> Response:
    """Apply queued ClassMarker results that are due and send unsent mail.
    ---
    tags: [cron]
    security: [{CronjobToken: []}]
    responses:
      200:
        description: What the run did.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/RetrySummary'}
    """
    return jsonify(bridge_of().run_job("retry", trigger="cron"))


@blueprint.post("/training_expiration")
@require_cron_token
@problems(400, 401, 404, 409, 422, 502, 504, not_configured=True)
def training_expiration() -> Response:
    """Queue the "training expired, retake it" mail of one member's course.
    ---
    tags: [cron]
    description: >
      For the existing scheduler, which deletes the training itself after a 2xx:
      the answer comes only once the mail is committed to the outbox. The mail
      announces the member's latest expired record of the course (untilDate not
      later than today in TIMEZONE) and is keyed by that record, shared with
      `/cron/expire_trainings`, so retries never mail twice (`already_queued`).
      A member with no e-mail address gets `no_address` and staff an alert.
      No record of the course: 404. Only active records: 409, nothing queued.
    security: [{CronjobToken: []}]
    requestBody: {$ref: '#/components/requestBodies/MemberCourse'}
    responses:
      200:
        description: The expiry mail is queued (or was already).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ExpiryNotice'}
    """
    body = json_object()
    member_id, course_id = positive_id(body, "member_id"), positive_id(body, "training_id")
    return jsonify(shape(ExpiryNotice, bridge_of().announce_expiry(member_id, course_id)))


@blueprint.post("/cron/expire_trainings")
@require_cron_token
@problems(400, 401, 502, 504, not_configured=True, job=True)
def expire_trainings() -> Response:
    """Announce and remove every expired training; send due reminders.
    ---
    tags: [cron]
    description: >
      Walks every member page (trainings embedded). Each expired record
      (untilDate not later than today in TIMEZONE, any course) gets the expiry
      mail, committed first, and is then deleted from Fabman. Online trainings
      ending within REMINDER_DAYS get one reminder per record and untilDate.
      A second run the same day mails and deletes nothing. A failing member
      is listed in `errors` and the run goes on. `dry_run=true` changes
      nothing; its counters say what a real run would do.
    security: [{CronjobToken: []}]
    parameters:
      - {name: dry_run, in: query, required: false, schema: {type: boolean, default: false}}
    responses:
      200:
        description: What the sweep did.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ExpirySummary'}
    """
    dry_run = flag("dry_run")
    bridge = bridge_of()
    summary = bridge.expire_trainings(dry_run=True) if dry_run else bridge.run_job("expiry_sweep", trigger="cron")
    return jsonify(shape(ExpirySummary, summary))


@blueprint.post("/cron/reconcile")
@require_cron_token
@problems(400, 401, not_configured=True, job=True)
def reconcile() -> Response:
    """Ask ClassMarker's results API for results the webhook never brought; store and apply them.
    ---
    tags: [cron]
    description: >
      Lists recent link results from the watermark (the newest result seen
      minus an hour, at most 14 days back) or from `since`, and stores every
      one the inbox lacks (source `poll`), applying it before answering as a
      webhook delivery would be; what Fabman refuses stays queued for the
      retry job. A result without `passed` is judged by percentage against its
      pass mark; without a pass mark it is stored `needs_review` and staff are
      alerted. At most 20 requests an hour reach ClassMarker (shared by every
      worker and instance); `request_limit_reached`, an error answer or a
      spent budget ends the run early (`complete: false`, `stopped` says why)
      and the next run tries again. `gap`: results first found by polling in
      the last 24 hours (their webhook never came). 503 while
      CLASSMARKER_API_KEY and CLASSMARKER_API_SECRET are not both set.
    security: [{CronjobToken: []}]
    parameters:
      - name: since
        in: query
        required: false
        description: Start the listing here (UNIX seconds) instead of at the watermark; may go back further than 14 days.
        schema: {type: integer, minimum: 0, maximum: 8589934591, example: 1763712000}
    responses:
      200:
        description: What the run found and did.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ReconcileSummary'}
    """
    since = unix_seconds("since")
    return jsonify(bridge_of().run_reconcile(trigger="cron", since=since))
