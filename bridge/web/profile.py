"""Endpoints of the member's profile page (FabLab web): trainings held and open, quiz links."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, jsonify

from bridge.application import bridge_of
from bridge.web.auth import require_api_key
from bridge.web.inputs import flag, json_object, positive_id
from bridge.web.openapi import UPSTREAM, problems
from bridge.web.shapes import AbsolvedTraining, AvailableTraining, TrainingLinks, shape

blueprint = Blueprint("profile", __name__)


@blueprint.get("/absolved_trainings/<int:member_id>")
@blueprint.get("/absolved_training/<int:member_id>", endpoint="absolved_training_alias")
@require_api_key
@problems(400, 401, 404, UPSTREAM)
def absolved_trainings(member_id: int) -> Response:
    """Trainings the member holds now (one per course, the latest).
    ---
    tags: [profile]
    description: >
      Active trainings (untilDate null or after today in TIMEZONE) of online
      courses; `include_offline=true` adds presence-only courses.
      `/absolved_training/{member_id}` is an alias kept for the existing web.
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: member_id, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: include_offline, in: query, required: false, schema: {type: boolean, default: false}}
    responses:
      200:
        description: The trainings, sorted by title.
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/AbsolvedTraining'}}
    """
    held = bridge_of().absolved_trainings(member_id, include_offline=flag("include_offline"))
    return jsonify([shape(AbsolvedTraining, training) for training in held])


@blueprint.get("/available_trainings/<int:member_id>")
@require_api_key
@problems(401, 404, UPSTREAM)
def available_trainings(member_id: int) -> Response:
    """Online courses the member may take now, with personal quiz links.
    ---
    tags: [profile]
    description: >
      Every active online course the member holds no active training for,
      without admin-only courses unless the member is an admin or owner.
      `quiz_url` is null when no attempts are left (staff must reset them).
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: member_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: The courses on offer, sorted by title.
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/AvailableTraining'}}
    """
    return jsonify([shape(AvailableTraining, offer) for offer in bridge_of().available_trainings(member_id)])


@blueprint.get("/training_overview/<int:member_id>")
@require_api_key
@problems(401, 404, UPSTREAM)
def training_overview(member_id: int) -> Response:
    """Where the member stands with every course they can see, and what to do next.
    ---
    tags: [profile]
    description: >
      One object per course the member can see (admin-only courses only for
      admins and owners; archived courses only where the member holds or held
      a record). `state` is exactly one of held, expiring, expired, available,
      waiting, out_of_attempts, needs_prerequisite, in_person; `next_step`
      says what to do, one sentence in Czech and in English; `quiz_url` is
      set only when the member may take the quiz now.
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: member_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: Every visible course, sorted by title.
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/CourseOverview'}}
    """
    return jsonify([dataclasses.asdict(item) for item in bridge_of().training_overview(member_id)])


@blueprint.post("/get_training_links")
@require_api_key
@problems(400, 401, 404, 422, UPSTREAM)
def get_training_links() -> Response:
    """The personal quiz link and study materials of one course for one member.
    ---
    tags: [profile]
    security: [{FabmanApiKey: []}]
    requestBody: {$ref: '#/components/requestBodies/MemberCourse'}
    responses:
      200:
        description: Links for the course; `quiz_url` is null when no attempts are left.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/TrainingLinks'}
    """
    body = json_object()
    member_id, course_id = positive_id(body, "member_id"), positive_id(body, "training_id")
    return jsonify(shape(TrainingLinks, bridge_of().training_links(member_id, course_id)))
