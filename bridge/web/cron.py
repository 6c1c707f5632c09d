"""Endpoints the scheduler calls with the `CronjobToken` header."""

from __future__ import annotations

from flask import Blueprint, Response

from bridge.application import bridge_of
from bridge.services.expiry import ExpiryNotice, ExpirySummary
from bridge.services.reconcile import ReconcileSummary
from bridge.services.results.retrying import RetrySummary
from bridge.web.auth import require_cron_token
from bridge.web.inputs import Flag, MemberCourse, UnixSeconds, member_course
from bridge.web.openapi import answers, operation, problems, respond

blueprint = Blueprint("cron", __name__)

DRY_RUN = Flag("dry_run")
SINCE = UnixSeconds(
    "since", "Start the listing here (UNIX seconds) instead of at the watermark; may go back further than 14 days."
)


@blueprint.post("/cron/retry")
@require_cron_token
@operation("cron")
@answers(200, RetrySummary, "What the run did.")
@problems(401, not_configured=True, job=True)
def retry() -> Response:
    """Apply queued ClassMarker results that are due and send unsent mail."""
    return respond(bridge_of().run_job("retry", trigger="cron"))


@blueprint.post("/training_expiration")
@require_cron_token
@operation("cron", body=MemberCourse)
@answers(200, ExpiryNotice, "The expiry mail is queued (or was already).")
@problems(400, 401, 404, 409, 422, 502, 504, not_configured=True)
def training_expiration() -> Response:
    """Queue the "training expired, retake it" mail of one member's course.

    For the existing scheduler, which deletes the training itself after a 2xx:
    the answer comes only once the mail is committed to the outbox. The mail
    announces the member's latest expired record of the course (untilDate not
    later than today in TIMEZONE) and is keyed by that record, shared with
    `/cron/expire_trainings`, so retries never mail twice (`already_queued`).
    A member with no e-mail address gets `no_address` and staff an alert.
    No record of the course: 404. Only active records: 409, nothing queued.
    """
    wanted = member_course()
    return respond(bridge_of().announce_expiry(wanted.member_id, wanted.training_id))


@blueprint.post("/cron/expire_trainings")
@require_cron_token
@operation("cron", params=[DRY_RUN])
@answers(200, ExpirySummary, "What the sweep did.")
@problems(400, 401, 502, 504, not_configured=True, job=True)
def expire_trainings() -> Response:
    """Announce and remove every expired training; send due reminders.

    Walks every member page (trainings embedded). Each expired record
    (untilDate not later than today in TIMEZONE, any course) gets the expiry
    mail, committed first, and is then deleted from Fabman. Online trainings
    ending within REMINDER_DAYS get one reminder per record and untilDate.
    A second run the same day mails and deletes nothing. A failing member
    is listed in `errors` and the run goes on. `dry_run=true` changes
    nothing; its counters say what a real run would do.
    """
    bridge = bridge_of()
    if DRY_RUN.read():
        return respond(bridge.expire_trainings(dry_run=True))
    return respond(bridge.run_job("expiry_sweep", trigger="cron"))


@blueprint.post("/cron/reconcile")
@require_cron_token
@operation("cron", params=[SINCE])
@answers(200, ReconcileSummary, "What the run found and did.")
@problems(400, 401, not_configured=True, job=True)
def reconcile() -> Response:
    """Ask ClassMarker's results API for results the webhook never brought; store and apply them.

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
    """
    return respond(bridge_of().run_reconcile(trigger="cron", since=SINCE.read()))
