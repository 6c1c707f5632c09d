"""Staff endpoints: reset attempts, inspect and replay ClassMarker events, course statistics."""

from __future__ import annotations

from flask import Blueprint, Response

from bridge.application import bridge_of
from bridge.background.jobs import JobStatus
from bridge.domain.statistics import CourseMonth
from bridge.domain.statuses import EventStatus
from bridge.services.admin import AttemptsReset, Event, describe_event
from bridge.services.console.exports import evidence_csv, evidence_rows
from bridge.services.console.filters import EvidenceFilter, Period
from bridge.services.ledger import LedgerRow, ledger_row
from bridge.services.results.receipts import WebhookReceipt
from bridge.web.auth import require_api_key
from bridge.web.inputs import Bounded, Choice, MemberCourse, QueryDate, QueryId, member_course, path_id
from bridge.web.openapi import UPSTREAM, answers, operation, problems, respond

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

EVENT_ID = path_id("event_id")
STATUS = Choice("status", EventStatus)
LIMIT = Bounded("limit", default=100, low=1, high=500)
FORMAT = Choice("format", ("json", "csv"), default="json")
MEMBER, COURSE, FROM, TO = QueryId("member_id"), QueryId("course_id"), QueryDate("from"), QueryDate("to")
LEDGER_LIMIT = Bounded("limit", default=1000, low=1, high=10_000)
OFFSET = Bounded("offset", default=0, low=0, high=10**9)
CSV = {"text/csv": {"schema": {"type": "string", "description": "UTF-8, a header row, every ledger column (format=csv)."}}}


@blueprint.post("/reset_attempts")
@require_api_key
@operation("admin", body=MemberCourse)
@answers(200, AttemptsReset, "Attempts reset; other metadata untouched.")
@problems(400, 401, 404, 422, UPSTREAM)
def reset_attempts() -> Response:
    """Clear a member's failed attempts of one course."""
    wanted = member_course()
    return respond(bridge_of().reset_attempts(wanted.member_id, wanted.training_id))


@blueprint.get("/events")
@require_api_key
@operation("admin", params=[STATUS, LIMIT])
@answers(200, list[Event], "Events, newest first (without the raw payload).")
@problems(400, 401, 422)
def list_events() -> Response:
    """The newest ClassMarker events in the inbox."""
    status = STATUS.read()
    events = bridge_of().events(status=EventStatus(status) if status else None, limit=LIMIT.read())
    return respond([describe_event(event) for event in events])


@blueprint.get("/events/<int:event_id>")
@require_api_key
@operation("admin", params=[EVENT_ID])
@answers(200, Event, "The event.")
@problems(401, 404)
def show_event(event_id: int) -> Response:
    """One ClassMarker event and what became of it."""
    return respond(describe_event(bridge_of().event(event_id)))


@blueprint.post("/events/<int:event_id>/replay")
@require_api_key
@operation("admin", params=[EVENT_ID])
@answers(200, WebhookReceipt, "What processing did (the same receipt as the webhook's).")
@problems(401, 404)
def replay_event(event_id: int) -> Response:
    """Put a dead, failed or rejected event back and process it now."""
    bridge = bridge_of()
    bridge.event(event_id)
    return respond(bridge.replay(event_id))


@blueprint.get("/jobs")
@require_api_key
@operation("admin")
@answers(200, list[JobStatus], "One entry per job.")
@problems(401)
def list_jobs() -> Response:
    """The bridge's own jobs: schedule and last run of each.

    Retry, expiry sweep, reconciliation and digest (contract section 10).
    `enabled` is false when `JOBS=off`, when the job is switched off
    (`SWEEP_AT=off`) or when this bridge cannot run it yet. `last_run` is
    the newest run by any worker, instance, cron call or CLI command
    (`by` says which), or null when it never ran.
    """
    return respond(bridge_of().job_status())


@blueprint.get("/evidence")
@require_api_key
@operation("admin", params=[FORMAT, MEMBER, COURSE, FROM, TO, LEDGER_LIMIT, OFFSET])
@answers(200, list[LedgerRow], "Ledger rows, newest first.", also=CSV)
@problems(400, 401, 422)
def list_evidence() -> Response:
    """The training ledger: proof of each training the bridge granted.

    The same search as the staff console's evidence page: by member, course
    and the date the training was granted (local dates in TIMEZONE, both
    ends included), newest first. Each row carries every ledger column.
    `format=csv` gives the same rows as the console's CSV download (a cell
    that a spreadsheet would run as a formula starts with `'`). A parameter
    that is given must be readable: an empty or unreadable value is a 422
    naming it (never a wider search); one given twice is a 400.
    """
    as_csv = FORMAT.read() == "csv"
    wanted = EvidenceFilter(member_id=MEMBER.read(), course_id=COURSE.read(), period=Period(FROM.read(), TO.read()))
    limit, offset = LEDGER_LIMIT.read(), OFFSET.read()
    rows = evidence_rows(bridge_of().deps, wanted, offset=offset, limit=limit)
    if as_csv:
        return Response(evidence_csv(rows), content_type="text/csv; charset=utf-8")
    return respond([ledger_row(row) for row in rows])


@blueprint.get("/stats")
@require_api_key
@operation("admin")
@answers(200, list[CourseMonth], "The rows, by course id, then month.")
@problems(401)
def course_stats() -> Response:
    """How each course does, month by month over the last 12 months.

    One row per course and month (YYYY-MM in TIMEZONE, oldest first) for
    every course with a result or a holder in the window: results received
    (by the month their quiz finished), passes, fails, the share of members
    whose first attempt fell in the month who passed it, the median score,
    and members holding an active training at the month's end (as the
    ledger knows it). From the bridge's store alone. The console's
    Statistics page shows the same table with a chart per course and its CSV.
    """
    return respond(bridge_of().course_stats())
