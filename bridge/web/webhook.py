"""The ClassMarker result webhook."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from bridge.adapters.classmarker import InvalidResult
from bridge.answers import described, request_body
from bridge.application import bridge_of
from bridge.domain.results import signature_valid
from bridge.errors import BadRequest, Unauthorized
from bridge.services.results.receipts import WebhookReceipt
from bridge.web.openapi import answers, operation, problems, respond

blueprint = Blueprint("webhook", __name__)

SIGNATURE_HEADER = "X-Classmarker-Hmac-Sha256"


@request_body
class ClassMarkerResult:
    """ClassMarker's link-result payload (see ClassMarker's webhook docs)."""

    payload_type: str = described("single_user_test_results_link", default="")
    payload_status: str = described("live", enum=("live", "verify"), default="live")
    test: dict[str, Any] = described({"test_id": 2044187, "test_name": "Laserová řezačka – bezpečnost"}, default_factory=dict)
    link: dict[str, Any] = described({"link_id": 1288001, "link_url_id": "lsr41d8a0c2b7"}, default_factory=dict)
    result: dict[str, Any] = described(
        {"link_result_id": 88123401, "cm_user_id": "gAAAAABp...", "percentage": 90, "passed": True}, default_factory=dict
    )


@blueprint.post("/add_classmarker_training")
@operation("webhook", security="ClassMarkerSignature", body=ClassMarkerResult)
@answers(200, WebhookReceipt, "Stored (and possibly applied); never needs a retry by ClassMarker.")
@problems(400, 401, 413)
def add_classmarker_training() -> Response:
    """Receive a ClassMarker quiz result.

    Verifies `X-Classmarker-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body;
    several comma-separated values allowed), stores the result durably and
    answers; the answer never waits for Fabman or SMTP. Applying starts at
    once in the bridge: a pass adds the training in Fabman, a fail counts an
    attempt; the member is mailed either way. When Fabman fails the result
    stays queued and the retry job applies it later. The same
    `link_result_id` has its effect once however often it is delivered.

    `status` in the answer: `accepted` (stored; being applied now),
    `queued` (stored; the retry job applies it within RETRY_EVERY_SECONDS),
    `duplicate` (this `link_result_id` was received before), `ignored`
    (verify ping, group result or result without `cm_user_id`, or waiting
    for grading), `rejected` (the `cm_user_id` does not decrypt; staff
    alerted). What applying did is in `GET /admin/events/{event_id}`.
    """
    settings = bridge_of().settings
    body = request.get_data(cache=False)
    if settings.verify_classmarker_requests and not signature_valid(
        settings.classmarker_webhook_secret or "", body, request.headers.get(SIGNATURE_HEADER)
    ):
        raise Unauthorized(f"missing or wrong {SIGNATURE_HEADER} signature")
    try:
        # Strict UTF-8 (the stored copy is re-read as UTF-8); nesting too deep to parse is as bad as no JSON.
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise BadRequest("the body is not UTF-8 JSON") from None
    try:
        receipt = bridge_of().receive_result(body, payload)
    except InvalidResult as error:
        raise BadRequest(f"not a ClassMarker result: {error}") from None
    return respond(receipt)
