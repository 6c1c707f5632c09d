"""Contract 4.1-4.3: only signed ClassMarker link results get in; nothing else leaves a trace."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge, bridge_of
from bridge.domain.results import sign
from harness import WEBHOOK_SECRET
from harness.classmarker import result_payload, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.webhook.conftest import WEBHOOK, DiscordSink, course_records, deliver, table_counts, token

LINK = "single_user_test_results_link"
NOTHING = {"inbox_events": 0, "outbox_messages": 0, "training_ledger": 0}


def assert_no_trace(bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, discord: DiscordSink) -> None:
    assert table_counts(bridge.store) == NOTHING
    assert simulator.requests == []
    assert smtp.messages == []
    assert discord.posts == []


def test_valid_signature_is_accepted_and_applied(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator) -> None:
    response = deliver(client, result_payload(token(bridge, 1, 2)))

    assert response.status_code == 200
    assert response.json["status"] == "accepted"
    assert len(course_records(simulator, 1, 2)) == 1


def test_one_matching_value_in_a_comma_separated_header_is_enough(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator
) -> None:
    body, _ = signed(result_payload(token(bridge, 1, 2)))
    header = f"{sign('some-other-secret', body)}, {sign(WEBHOOK_SECRET, body)}"

    response = client.post(WEBHOOK, data=body, headers={"X-Classmarker-Hmac-Sha256": header})

    assert response.status_code == 200
    assert response.json["status"] == "accepted"
    assert len(course_records(simulator, 1, 2)) == 1


@pytest.mark.parametrize(
    "header",
    [None, "", "not-base64-at-all", sign("wrong-secret", b"{}"), "a,b,c"],
    ids=["missing", "empty", "garbage", "other-body", "several-wrong"],
)
def test_missing_or_wrong_signature_is_401_and_leaves_no_trace(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    discord: DiscordSink,
    header: str | None,
) -> None:
    body = json.dumps(result_payload(token(bridge, 1, 2))).encode()
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Classmarker-Hmac-Sha256"] = header

    response = client.post(WEBHOOK, data=body, headers=headers)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 401
    assert_no_trace(bridge, simulator, smtp, discord)


def test_signature_of_a_reserialised_body_does_not_match(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, discord: DiscordSink
) -> None:
    """ClassMarker escapes like PHP; the HMAC covers the raw bytes, not a re-encoding."""
    payload = result_payload(token(bridge, 1, 2), test_name="Laserová řezačka")
    raw = json.dumps(payload, ensure_ascii=True).replace("/", "\\/").encode()
    _, headers = signed(json.dumps(payload, ensure_ascii=False).encode())

    response = client.post(WEBHOOK, data=raw, headers=headers)

    assert response.status_code == 401
    assert_no_trace(bridge, simulator, smtp, discord)


def test_php_escaped_body_signed_as_sent_is_accepted(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator) -> None:
    payload = result_payload(token(bridge, 1, 2), test_name="Laserová řezačka")
    raw = json.dumps(payload, ensure_ascii=True).replace("/", "\\/").encode()

    response = deliver(client, raw)

    assert response.json["status"] == "accepted"
    assert "Laserová řezačka" in course_records(simulator, 1, 2)[0]["notes"]


def test_body_over_one_mebibyte_is_413(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, discord: DiscordSink
) -> None:
    payload = result_payload(token(bridge, 1, 2))
    payload["padding"] = "x" * (1024 * 1024)

    response = deliver(client, payload)

    assert response.status_code == 413
    assert response.json["status"] == 413
    assert_no_trace(bridge, simulator, smtp, discord)


def test_verify_ping_is_acknowledged_and_nothing_else(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, discord: DiscordSink
) -> None:
    payload = result_payload(token(bridge, 1, 2))
    payload["payload_status"] = "verify"

    response = deliver(client, payload)

    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert_no_trace(bridge, simulator, smtp, discord)


@pytest.mark.parametrize(
    "body",
    [
        b"this is not json",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        json.dumps({"payload_type": "something_else", "result": {}}).encode(),
        json.dumps({"payload_type": LINK, "result": "no"}).encode(),
        json.dumps({"payload_type": LINK, "result": {"passed": True, "cm_user_id": "x"}}).encode(),
        json.dumps({"payload_type": LINK, "result": {"link_result_id": 5, "passed": "maybe", "cm_user_id": "x"}}).encode(),
    ],
    ids=[
        "text",
        "binary",
        "array",
        "string",
        "empty-object",
        "other-type",
        "result-not-object",
        "no-result-id",
        "passed-unclear",
    ],
)
def test_not_json_or_not_a_result_is_400_and_nothing_stored(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    discord: DiscordSink,
    body: bytes,
) -> None:
    response = deliver(client, body)

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(response.json)
    assert_no_trace(bridge, simulator, smtp, discord)


@pytest.mark.parametrize("cm_user_id", [None, ""], ids=["missing", "empty"])
def test_result_without_cm_user_id_is_acknowledged_and_ignored(
    client: FlaskClient,
    bridge: Bridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    discord: DiscordSink,
    cm_user_id: str | None,
) -> None:
    response = deliver(client, result_payload(cm_user_id))

    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert_no_trace(bridge, simulator, smtp, discord)


def test_group_result_is_acknowledged_and_ignored(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, discord: DiscordSink
) -> None:
    payload = result_payload(None)
    payload["payload_type"] = "single_user_test_results_group"
    payload.pop("link")
    payload["group"] = {"group_id": 7, "group_name": "Staff"}
    payload["result"].pop("link_result_id")
    payload["result"]["user_id"] = "1234"

    response = deliver(client, payload)

    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert_no_trace(bridge, simulator, smtp, discord)


def test_verification_off_accepts_unsigned_results(make_app: Callable[..., Flask], simulator: FabmanSimulator) -> None:
    app = make_app(VERIFY_CLASSMARKER_REQUESTS="false", CLASSMARKER_WEBHOOK_SECRET=None)

    body = json.dumps(result_payload(bridge_of(app).codec.encode(1, 2))).encode()
    response = app.test_client().post(WEBHOOK, data=body, headers={"Content-Type": "application/json"})

    assert response.json["status"] == "accepted"
    assert len(course_records(simulator, 1, 2)) == 1
