"""Endpoints of the member's profile page (FabLab web): trainings held and open, quiz links."""

from __future__ import annotations

from flask import Blueprint, Response

from bridge.application import bridge_of
from bridge.services.overview import CourseOverview
from bridge.services.profile import AbsolvedTraining, AvailableTraining, TrainingLinks
from bridge.web.auth import require_api_key
from bridge.web.inputs import Flag, MemberCourse, member_course, path_id
from bridge.web.openapi import UPSTREAM, answers, operation, problems, respond

blueprint = Blueprint("profile", __name__)

MEMBER_ID = path_id("member_id", maximum=None)
INCLUDE_OFFLINE = Flag("include_offline")


@blueprint.get("/absolved_trainings/<int:member_id>")
@blueprint.get("/absolved_training/<int:member_id>", endpoint="absolved_training_alias")
@require_api_key
@operation("profile", params=[MEMBER_ID, INCLUDE_OFFLINE])
@answers(200, list[AbsolvedTraining], "The trainings, sorted by title.")
@problems(400, 401, 404, UPSTREAM)
def absolved_trainings(member_id: int) -> Response:
    """Trainings the member holds now (one per course, the latest).

    Active trainings (untilDate null or after today in TIMEZONE) of online
    courses; `include_offline=true` adds presence-only courses.
    `/absolved_training/{member_id}` is an alias kept for the existing web.
    """
    return respond(bridge_of().absolved_trainings(member_id, include_offline=INCLUDE_OFFLINE.read()))


@blueprint.get("/available_trainings/<int:member_id>")
@require_api_key
@operation("profile", params=[MEMBER_ID])
@answers(200, list[AvailableTraining], "The courses on offer, sorted by title.")
@problems(401, 404, UPSTREAM)
def available_trainings(member_id: int) -> Response:
    """Online courses the member may take now, with personal quiz links.

    Every active online course the member holds no active training for,
    without admin-only courses unless the member is an admin or owner.
    `quiz_url` is null when no attempts are left (staff must reset them).
    """
    return respond(bridge_of().available_trainings(member_id))


@blueprint.get("/training_overview/<int:member_id>")
@require_api_key
@operation("profile", params=[MEMBER_ID])
@answers(200, list[CourseOverview], "Every visible course, sorted by title.")
@problems(401, 404, UPSTREAM)
def training_overview(member_id: int) -> Response:
    """Where the member stands with every course they can see, and what to do next.

    One object per course the member can see (admin-only courses only for
    admins and owners; archived courses only where the member holds or held
    a record). `state` is exactly one of held, expiring, expired, available,
    waiting, out_of_attempts, needs_prerequisite, in_person; `next_step`
    says what to do, one sentence in Czech and in English; `quiz_url` is
    set only when the member may take the quiz now.
    """
    return respond(bridge_of().training_overview(member_id))


@blueprint.post("/get_training_links")
@require_api_key
@operation("profile", body=MemberCourse)
@answers(200, TrainingLinks, "Links for the course; `quiz_url` is null when no attempts are left.")
@problems(400, 401, 404, 422, UPSTREAM)
def get_training_links() -> Response:
    """The personal quiz link and study materials of one course for one member."""
    wanted = member_course()
    return respond(bridge_of().training_links(wanted.member_id, wanted.training_id))
