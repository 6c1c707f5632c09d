"""Endpoints of the member's profile page (FabLab web): trainings held and open, quiz links."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.application import bridge_of
from bridge.web.auth import require_api_key
from bridge.web.inputs import flag, json_object, positive_id
from bridge.web.openapi import UPSTREAM, problems

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
            example:
              - {id: 1, title: Bezpečnost v dílně, cs_name: Bezpečnost v dílně, en_name: Workshop safety,
                 date: '2026-02-10', until_date: '2027-02-10', record_id: 1, online: true}
              - {id: 3, title: 3D tisk – Prusa, cs_name: 3D tisk – Prusa, en_name: 3D printing – Prusa,
                 date: '2025-11-02', until_date: null, record_id: 12, online: true}
    """
    return jsonify(bridge_of().absolved_trainings(member_id, include_offline=flag("include_offline")))


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
            example:
              - id: 4
                title: CNC frézka
                cs_name: CNC frézka
                en_name: CNC milling machine
                wiki_url: https://wiki.example.org/fablab/cnc
                yt_url: null
                quiz_url: https://www.classmarker.com/online-test/start/?quiz=cnc0a7f3e6b91&cm_user_id=gAAAAABp...
                attempts: 2
                max_attempts: 5
                attempts_left: 3
              - id: 2
                title: Laserová řezačka
                cs_name: Laserová řezačka
                en_name: Laser cutter
                wiki_url: https://wiki.example.org/fablab/laser
                yt_url: https://www.youtube.com/watch?v=Lr8mQe2Vx0k
                quiz_url: null
                attempts: 3
                max_attempts: 3
                attempts_left: 0
    """
    return jsonify(bridge_of().available_trainings(member_id))


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
            example:
              quiz_url: https://www.classmarker.com/online-test/start/?quiz=lsr41d8a0c2b7&cm_user_id=gAAAAABp...
              title: Laserová řezačka
              cs_name: Laserová řezačka
              en_name: Laser cutter
              wiki_url: https://wiki.example.org/fablab/laser
              yt_url: https://www.youtube.com/watch?v=Lr8mQe2Vx0k
              attempts: 0
              max_attempts: 3
              attempts_left: 3
    """
    body = json_object()
    member_id, course_id = positive_id(body, "member_id"), positive_id(body, "training_id")
    return jsonify(bridge_of().training_links(member_id, course_id))
