"""Fabman's webhook (contract section 13): events from Fabman, protected by a token in the URL."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request

from bridge.answers import described, request_body
from bridge.application import Bridge, bridge_of
from bridge.domain.fabman_events import InvalidFabmanEvent
from bridge.domain.models import FABMAN_ID_LIMIT
from bridge.errors import BadRequest, ServiceNotConfigured, Unauthorized
from bridge.services.machine_denied import FabmanEventReceipt
from bridge.web.auth import secrets_match
from bridge.web.openapi import answers, operation, problems, respond

log = logging.getLogger(__name__)

blueprint = Blueprint("fabman_webhook", __name__)

EVENT_ID = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": FABMAN_ID_LIMIT - 1},
        {
            "type": "string",
            "description": "an event key with a letter or one of _.: (digits alone: the id range)",
            "pattern": "^[A-Za-z0-9_.:-]*[A-Za-z_.:][A-Za-z0-9_.:-]*$",
            "maxLength": 80,
        },
    ]
}
"""What :func:`bridge.domain.fabman_events.parse_event` takes for an event's id."""


@request_body
class FabmanEventBody:
    """A Fabman webhook event (see Fabman's webhook docs)."""

    id: int | str = described(80001, schema=EVENT_ID)
    type: str = described("resourceLog_created", schema={"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,80}$"})
    createdAt: str = described("2026-12-02T09:14:03.000Z", default="")
    details: dict[str, Any] = described({"log": {"type": "denied", "member": 1, "resource": 1}}, default_factory=dict)


@blueprint.post("/fabman_webhook")
@operation("webhook", security="FabmanWebhookToken", body=FabmanEventBody)
@answers(200, FabmanEventReceipt, "Stored (or seen before); never needs a re-send by Fabman.")
@problems(400, 401, 413, not_configured=True)
def fabman_webhook() -> Response:
    """Receive a webhook event from Fabman.

    Fabman signs nothing, so the `token` query parameter (FABMAN_WEBHOOK_TOKEN,
    compared in constant time) is the credential: unset, `503`; missing or
    wrong, `401` and nothing is stored. Every event is stored once by its
    `id` (Fabman re-sends): `status` is `duplicate` for one seen before,
    `ok` for the `test` event, `ignored` for events the bridge does not use.
    A `resourceLog_created` whose `details.log` is `denied` / `noPermission`
    is `stored`; after the answer the member is mailed the personal quiz
    links of the online courses that unlock that equipment (at most once per
    member and equipment in 7 days). A `resourceLog_created` whose log is
    `allowed` (a use Fabman permitted) is `stored` as well; after the answer
    it renews the member's trainings of courses with `renew_on_use` that
    unlock that equipment (at most once per member, course and day; no mail).
    The body is a hint, never a source of text: names in the mail come
    from Fabman's API. Event, member and resource ids must be positive and
    below 2^53, else `400`.
    """
    bridge = bridge_of()
    expected = bridge.settings.fabman_webhook_token
    if not expected:
        raise ServiceNotConfigured("FABMAN_WEBHOOK_TOKEN is not set, so Fabman's webhook is disabled")
    if not secrets_match(request.args.get("token"), expected):
        raise Unauthorized("the token is missing or wrong")
    body = request.get_data(cache=False)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise BadRequest("the body is not UTF-8 JSON") from None
    try:
        answer, to_handle = bridge.receive_fabman_event(body, payload)
    except InvalidFabmanEvent as error:
        raise BadRequest(f"not a Fabman webhook event: {error}") from None
    response = respond(answer)
    if to_handle is not None:
        response.call_on_close(lambda: _handle(bridge, to_handle))
    return response


def _handle(bridge: Bridge, event_id: int) -> None:
    """Offer the training once Fabman has its answer; what fails here is retried by the retry job."""
    try:
        bridge.handle_fabman_event(event_id)
    except Exception:
        log.exception("handling Fabman event %s after the answer failed", event_id)
