"""Staff endpoints: reset attempts, inspect and replay ClassMarker events."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.application import bridge_of
from bridge.domain.statuses import EventStatus
from bridge.errors import ValidationFailed
from bridge.services.admin import describe_event
from bridge.web.auth import require_api_key
from bridge.web.inputs import choice, json_object, positive_id
from bridge.web.openapi import UPSTREAM, problems
from bridge.web.shapes import AttemptsReset, shape

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
    limit = request.args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        raise ValidationFailed("limit must be an integer from 1 to 500", field="limit")
    events = bridge_of().events(status=EventStatus(status) if status else None, limit=int(limit))
    return jsonify([describe_event(e) for e in events])


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
    return jsonify(describe_event(bridge_of().event(event_id)))


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
    return jsonify(bridge.replay(event_id).as_json())


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
    return jsonify(bridge_of().job_status())
