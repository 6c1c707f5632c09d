"""Endpoints the scheduler calls with the `CronjobToken` header."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.services import results
from bridge.web.auth import require_cron_token
from bridge.web.webhook import result_deps

blueprint = Blueprint("cron", __name__)


@blueprint.post("/cron/retry")
@require_cron_token
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
      401: {$ref: '#/components/responses/Unauthorized'}
      503: {$ref: '#/components/responses/NotConfigured'}
    """
    return jsonify(results.retry_due(result_deps()))
