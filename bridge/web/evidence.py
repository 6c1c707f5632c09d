"""The evidence log and personal data on the web (contract sections 16 and 17).

`GET /evidence/key` is public: the key alone checks any bundle. Proofs,
checkpoints, consistency and a member's export are staff endpoints under
`/admin/` (the Fabman API key); the daily checkpoint and purge can also be
run by the scheduler under `/cron/` (`CronjobToken`).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.application import bridge_of
from bridge.domain.models import MAX_ID
from bridge.errors import BadRequest, NotFound
from bridge.web.auth import require_api_key, require_cron_token
from bridge.web.openapi import problems
from bridge.web.shapes import ConsistencyProof, EvidenceBundle, EvidenceKey, PurgeSummary, SignedCheckpoint, shape
from bridge.web.staff.filters import bounded_int

blueprint = Blueprint("evidence", __name__)
MAX_SIZE = 2**53


def _required_int(name: str, high: int) -> int:
    """A required positive integer query parameter: 400 naming it when missing, 422 when not in range."""
    if not (request.args.get(name) or "").strip():
        raise BadRequest(f"query parameter '{name}' is required", field=name)
    return bounded_int(request.args, name, default=0, low=1, high=high)


@blueprint.get("/evidence/key")
def evidence_key() -> Response:
    """The public key that signs evidence checkpoints, and the log's name.
    ---
    tags: [evidence]
    security: []
    responses:
      200:
        description: Check any bundle or checkpoint with this key.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/EvidenceKey'}
    """
    return jsonify(shape(EvidenceKey, bridge_of().evidence.key_info()))


@blueprint.get("/admin/evidence/proof")
@require_api_key
@problems(400, 401, 404, 422)
def evidence_proof() -> Response:
    """A member's latest granted or renewed training of a course, as a bundle that verifies offline.
    ---
    tags: [evidence]
    security: [{FabmanApiKey: []}]
    description: >
      The leaf (base64 of its exact bytes), its index, the RFC 6962 inclusion
      proof up to a signed checkpoint, the signature and public key, and the
      RFC 3161 token when the checkpoint was time-stamped. When no checkpoint
      covers the event yet, one is made first. Check it with
      `tools/verify_evidence.py BUNDLE.json`. 404 when the log has no such event.
    parameters:
      - {name: member_id, in: query, required: true, schema: {type: integer, minimum: 1, maximum: 2147483647}}
      - {name: course_id, in: query, required: true, schema: {type: integer, minimum: 1, maximum: 2147483647}}
    responses:
      200:
        description: The bundle.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/EvidenceBundle'}
    """
    member_id, course_id = _required_int("member_id", MAX_ID), _required_int("course_id", MAX_ID)
    return jsonify(shape(EvidenceBundle, bridge_of().evidence.proof(member_id, course_id), omit_none=True))


@blueprint.get("/admin/evidence/checkpoints")
@require_api_key
@problems(401)
def evidence_checkpoints() -> Response:
    """Every signed checkpoint of the evidence log, oldest first.
    ---
    tags: [evidence]
    security: [{FabmanApiKey: []}]
    responses:
      200:
        description: Checkpoints with their signatures (and time-stamp tokens).
        content:
          application/json:
            schema: {type: array, items: {$ref: '#/components/schemas/SignedCheckpoint'}}
    """
    return jsonify([shape(SignedCheckpoint, checkpoint) for checkpoint in bridge_of().evidence.checkpoints()])


@blueprint.get("/admin/evidence/consistency")
@require_api_key
@problems(400, 401, 404, 422)
def evidence_consistency() -> Response:
    """A proof that the log at size `second` extends the log at size `first` (two checkpoint sizes).
    ---
    tags: [evidence]
    security: [{FabmanApiKey: []}]
    description: >
      RFC 6962 2.1.2 consistency proof. A witness holding two signed
      checkpoints checks with it that nothing before `first` was rewritten.
      404 when the log is smaller than `second` or `first` > `second`.
    parameters:
      - {name: first, in: query, required: true, schema: {type: integer, minimum: 1, maximum: 9007199254740992}}
      - {name: second, in: query, required: true, schema: {type: integer, minimum: 1, maximum: 9007199254740992}}
    responses:
      200:
        description: The proof.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ConsistencyProof'}
    """
    first, second = _required_int("first", MAX_SIZE), _required_int("second", MAX_SIZE)
    return jsonify(shape(ConsistencyProof, bridge_of().evidence.consistency(first, second)))


@blueprint.get("/admin/members/<int:member_id>/export")
@require_api_key
@problems(401, 404)
def member_export(member_id: int) -> Response:
    """Everything the bridge holds about one member, as one JSON document (GDPR access).
    ---
    tags: [privacy]
    security: [{FabmanApiKey: []}]
    parameters:
      - {name: member_id, in: path, required: true, schema: {type: integer, minimum: 1, maximum: 2147483647}}
    responses:
      200:
        description: Results with their raw bodies (until purged), mail, ledger rows, evidence leaves, Fabman events, staff log.
        content:
          application/json:
            schema: {type: object}
    """
    if not 0 < member_id <= MAX_ID:
        raise NotFound(f"member {member_id} is outside Fabman's range of ids")
    return jsonify(bridge_of().privacy.export(member_id))


@blueprint.post("/cron/checkpoint")
@require_cron_token
@problems(401, not_configured=True)
def cron_checkpoint() -> Response:
    """Sign a checkpoint of the evidence log now (as the daily job does), mail it to the witnesses.
    ---
    tags: [cron]
    security: [{CronjobToken: []}]
    responses:
      200:
        description: The checkpoint made.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SignedCheckpoint'}
    """
    return jsonify(shape(SignedCheckpoint, bridge_of().run_job("checkpoint", trigger="cron")))


@blueprint.post("/cron/purge")
@require_cron_token
@problems(401, not_configured=True)
def cron_purge() -> Response:
    """Remove raw webhook bodies and sent mail bodies past their retention (as the daily job does); the counts.
    ---
    tags: [cron]
    security: [{CronjobToken: []}]
    responses:
      200:
        description: What was removed.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/PurgeSummary'}
    """
    return jsonify(shape(PurgeSummary, bridge_of().run_job("purge", trigger="cron")))
