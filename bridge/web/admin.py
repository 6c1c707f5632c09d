"""Staff endpoints: reset attempts, inspect and replay ClassMarker events."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.application import bridge_of
from bridge.domain.statuses import EventStatus
from bridge.services.admin import describe_event
from bridge.services.console import EvidenceFilter, Period, evidence_csv, evidence_record
from bridge.web.auth import require_api_key
from bridge.web.inputs import choice, json_object, positive_id, query_date, query_id, query_int
from bridge.web.openapi import UPSTREAM, problems
from bridge.web.shapes import AttemptsReset, Event, JobStatus, WebhookReceipt, shape

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.post("/reset_attempts")
@require_api_key
@problems(400, 401, 404, 422, UPSTREAM)
def reset_attempts() -> Response:
    """Clear a member's failed attempts of one course.
    ---
    tags: [admin]
    security: [{FabmanApiKey: []}]
    requestBody: {$ref: '#/components/requestBodies/MemberCourse'}
    responses:
      200:
        description: Attempts reset; other metadata untouched.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AttemptsReset'}
    """
    body = json_object()
    member_id, course_id = positive_id(body, "member_id"), positive_id(body, "training_id")
    return jsonify(shape(AttemptsReset, bridge_of().reset_attempts(member_id, course_id)))


@blueprint.get("/events")
@require_api_key
@problems(400, 401, 422)
def list_events() -> Response:
    """The newest ClassMarker events in the inbox.
    ---
    tags: [admin]
    security: [{FabmanApiKey: []}]
    parameters:
      - name: status
        in: query
        required: false
        schema: {type: string, enum: [queued, applied, rejected, error, dead, awaiting_grading, needs_review]}
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
    responses:
      200:
        description: Events, newest first (without the raw payload).
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/Event'}}
    """
    status = choice("status", EventStatus)
    limit = query_int("limit", default=100, low=1, high=500)
    events = bridge_of().events(status=EventStatus(status) if status else None, limit=limit)
    return jsonify([shape(Event, describe_event(e)) for e in events])


@blueprint.get("/events/<int:event_id>")
@require_api_key
@problems(401, 404)
def show_event(event_id: int) -> Response:
    """One ClassMarker event and what became of it.
    ---
    tags: [admin]
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: event_id, in: path, required: true, schema: {type: integer, minimum: 1, maximum: 2147483647}}
    responses:
      200:
        description: The event.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Event'}
    """
    return jsonify(shape(Event, describe_event(bridge_of().event(event_id))))


@blueprint.post("/events/<int:event_id>/replay")
@require_api_key
@problems(401, 404)
def replay_event(event_id: int) -> Response:
    """Put a dead, failed or rejected event back and process it now.
    ---
    tags: [admin]
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: event_id, in: path, required: true, schema: {type: integer, minimum: 1, maximum: 2147483647}}
    responses:
      200:
        description: What processing did (the same receipt as the webhook's).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/WebhookReceipt'}
    """
    bridge = bridge_of()
    bridge.event(event_id)
    return jsonify(shape(WebhookReceipt, bridge.replay(event_id).as_json(), omit_none=True))


@blueprint.get("/jobs")
@require_api_key
@problems(401)
def list_jobs() -> Response:
    """The bridge's own jobs: schedule and last run of each.
    ---
    tags: [admin]
    description: >
      Retry, expiry sweep, reconciliation and digest (contract section 10).
      `enabled` is false when `JOBS=off`, when the job is switched off
      (`SWEEP_AT=off`) or when this bridge cannot run it yet. `last_run` is
      the newest run by any worker, instance, cron call or CLI command
      (`by` says which), or null when it never ran.
    security: [{FabmanApiKey: []}]
    responses:
      200:
        description: One entry per job.
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/JobStatus'}}
    """
    return jsonify([shape(JobStatus, job) for job in bridge_of().job_status()])


@blueprint.get("/evidence")
@require_api_key
@problems(400, 401, 422)
def list_evidence() -> Response:
    """The training ledger: proof of each training the bridge granted.
    ---
    tags: [admin]
    description: >
      The same search as the staff console's evidence page: by member, course
      and the date the training was granted (local dates in TIMEZONE, both
      ends included), newest first. Each row carries every ledger column.
      `format=csv` gives the same rows as the console's CSV download (a cell
      that a spreadsheet would run as a formula starts with `'`). A parameter
      that is given must be readable: an empty or unreadable value is a 422
      naming it (never a wider search); one given twice is a 400.
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: format, in: query, required: false, schema: {type: string, enum: [json, csv], default: json}}
      - {name: member_id, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 2147483647}}
      - {name: course_id, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 2147483647}}
      - {name: from, in: query, required: false, schema: {type: string, format: date}}
      - {name: to, in: query, required: false, schema: {type: string, format: date}}
      - {name: limit, in: query, required: false, schema: {type: integer, minimum: 1, maximum: 10000, default: 1000}}
      - {name: offset, in: query, required: false, schema: {type: integer, minimum: 0, maximum: 1000000000, default: 0}}
    responses:
      200:
        description: Ledger rows, newest first.
        content:
          application/json:
            schema:
              type: array
              items:
                type: object
                required: [id, result_id, member_id, course_id, granted_at]
                properties:
                  id: {type: integer}
                  result_id: {type: string}
                  member_id: {type: integer}
                  course_id: {type: integer}
                  course_title: {type: string, nullable: true}
                  fabman_record_id: {type: integer, nullable: true}
                  quiz_name: {type: string, nullable: true}
                  quiz_id: {type: string, nullable: true}
                  link_id: {type: string, nullable: true}
                  percentage: {type: number, nullable: true}
                  points_scored: {type: number, nullable: true}
                  points_available: {type: number, nullable: true}
                  percentage_passmark: {type: number, nullable: true}
                  time_started: {type: string, format: date-time, nullable: true}
                  time_finished: {type: string, format: date-time, nullable: true}
                  training_date: {type: string, format: date, nullable: true}
                  until_date: {type: string, format: date, nullable: true}
                  evidence: {type: object, nullable: true}
                  granted_at: {type: string, format: date-time}
          text/csv:
            schema: {type: string, description: "UTF-8, a header row, every ledger column (format=csv)."}
    """
    as_csv = choice("format", ("json", "csv")) == "csv"
    wanted = EvidenceFilter(
        member_id=query_id("member_id"), course_id=query_id("course_id"), period=Period(query_date("from"), query_date("to"))
    )
    limit = query_int("limit", default=1000, low=1, high=10_000)
    offset = query_int("offset", default=0, low=0, high=10**9)
    rows = bridge_of().console.evidence_rows(wanted, offset=offset, limit=limit)
    if as_csv:
        return Response(evidence_csv(rows), content_type="text/csv; charset=utf-8")
    return jsonify([evidence_record(row) for row in rows])
