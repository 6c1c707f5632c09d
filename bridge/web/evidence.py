"""The evidence log and personal data on the web (contract sections 16 and 17).

`GET /evidence/key` is public: the key alone checks any bundle. Proofs,
checkpoints, consistency and a member's export are staff endpoints under
`/admin/` (the Fabman API key); the daily checkpoint and purge can also be
run by the scheduler under `/cron/` (`CronjobToken`).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from bridge.application import bridge_of
from bridge.domain.models import MAX_ID
from bridge.errors import BadRequest, NotFound
from bridge.services.evidence import ConsistencyProof, EvidenceBundle, EvidenceKey, SignedCheckpoint
from bridge.services.privacy import MemberExport, PurgeSummary
from bridge.web.auth import require_api_key, require_cron_token
from bridge.web.inputs import Parameter, path_id
from bridge.web.openapi import answers, operation, problems, respond
from bridge.web.staff.filters import bounded_int

blueprint = Blueprint("evidence", __name__)
MAX_SIZE = 2**53


def _required(name: str, high: int) -> Parameter:
    return Parameter(name, {"type": "integer", "minimum": 1, "maximum": high}, required=True)


MEMBER, COURSE = _required("member_id", MAX_ID), _required("course_id", MAX_ID)
FIRST, SECOND = _required("first", MAX_SIZE), _required("second", MAX_SIZE)


def _required_int(parameter: Parameter) -> int:
    """A required positive integer query parameter: 400 naming it when missing, 422 when not in range."""
    name = parameter.name
    if not (request.args.get(name) or "").strip():
        raise BadRequest(f"query parameter '{name}' is required", field=name)
    return bounded_int(request.args, name, default=0, low=1, high=parameter.schema["maximum"])


@blueprint.get("/evidence/key")
@operation("evidence")
@answers(200, EvidenceKey, "Check any bundle or checkpoint with this key.")
def evidence_key() -> Response:
    """The public key that signs evidence checkpoints, and the log's name."""
    return respond(bridge_of().evidence.key_info())


@blueprint.get("/admin/evidence/proof")
@require_api_key
@operation("evidence", params=[MEMBER, COURSE])
@answers(200, EvidenceBundle, "The bundle.")
@problems(400, 401, 404, 422)
def evidence_proof() -> Response:
    """A member's latest granted or renewed training of a course, as a bundle that verifies offline.

    The leaf (base64 of its exact bytes), its index, the RFC 6962 inclusion
    proof up to a signed checkpoint, the signature and public key, and the
    RFC 3161 token when the checkpoint was time-stamped. When no checkpoint
    covers the event yet, one is made first. Check it with
    `tools/verify_evidence.py BUNDLE.json`. 404 when the log has no such event.
    """
    member_id, course_id = _required_int(MEMBER), _required_int(COURSE)
    return respond(bridge_of().evidence.bundle(member_id, course_id))


@blueprint.get("/admin/evidence/checkpoints")
@require_api_key
@operation("evidence")
@answers(200, list[SignedCheckpoint], "Checkpoints with their signatures (and time-stamp tokens).")
@problems(401)
def evidence_checkpoints() -> Response:
    """Every signed checkpoint of the evidence log, oldest first."""
    return respond(bridge_of().evidence.checkpoints())


@blueprint.get("/admin/evidence/consistency")
@require_api_key
@operation("evidence", params=[FIRST, SECOND])
@answers(200, ConsistencyProof, "The proof.")
@problems(400, 401, 404, 422)
def evidence_consistency() -> Response:
    """A proof that the log at size `second` extends the log at size `first` (two checkpoint sizes).

    RFC 6962 2.1.2 consistency proof. A witness holding two signed
    checkpoints checks with it that nothing before `first` was rewritten.
    404 when the log is smaller than `second` or `first` > `second`.
    """
    first, second = _required_int(FIRST), _required_int(SECOND)
    return respond(bridge_of().evidence.consistency(first, second))


@blueprint.get("/admin/members/<int:member_id>/export")
@require_api_key
@operation("privacy", params=[path_id("member_id")])
@answers(
    200,
    MemberExport,
    "Results with their raw bodies (until purged), mail, ledger rows, evidence leaves, Fabman events, staff log.",
)
@problems(401, 404)
def member_export(member_id: int) -> Response:
    """Everything the bridge holds about one member, as one JSON document (GDPR access)."""
    if not 0 < member_id <= MAX_ID:
        raise NotFound(f"member {member_id} is outside Fabman's range of ids")
    return respond(bridge_of().privacy.export(member_id))


@blueprint.post("/cron/checkpoint")
@require_cron_token
@operation("cron")
@answers(200, SignedCheckpoint, "The checkpoint made.")
@problems(401, not_configured=True)
def cron_checkpoint() -> Response:
    """Sign a checkpoint of the evidence log now (as the daily job does), mail it to the witnesses."""
    return respond(bridge_of().run_job("checkpoint", trigger="cron"))


@blueprint.post("/cron/purge")
@require_cron_token
@operation("cron")
@answers(200, PurgeSummary, "What was removed.")
@problems(401, not_configured=True)
def cron_purge() -> Response:
    """Remove raw webhook bodies and sent mail bodies past their retention (as the daily job does); the counts."""
    return respond(bridge_of().run_job("purge", trigger="cron"))
