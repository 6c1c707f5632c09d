"""A forged ClassMarker result never reaches Fabman, the store or a mailbox.

The attacker has a genuine quiz link (so a token that decrypts) of another
member, and can send any body; only the webhook secret is out of reach.
"""

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

WEBHOOK = "/add_classmarker_training"
VICTIM, COURSE = 1, 2  # Petra: her Laser training is expired, so a pass would add a record


def _writes(simulator: FabmanSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in simulator.requests if r.method != "GET"]


def _forged_body(bridge: Bridge) -> bytes:
    return json.dumps(result_payload(bridge.codec.encode(VICTIM, COURSE), result_id=777001)).encode("utf-8")


def _laser_records(simulator: FabmanSimulator) -> list[dict[str, object]]:
    return [t for t in simulator.state.trainings_of(VICTIM) if t["trainingCourse"] == COURSE]


def _one_character_off(signature: str) -> str:
    """The signature with its last significant base64 character changed (same length)."""
    return signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]


FORGERIES: dict[str, Callable[[bytes], dict[str, str]]] = {
    "unsigned": lambda body: {},
    "empty signature": lambda body: {"X-Classmarker-Hmac-Sha256": ""},
    "wrong secret": lambda body: {"X-Classmarker-Hmac-Sha256": sign("guessed-secret", body)},
    "signature of another body": lambda body: {"X-Classmarker-Hmac-Sha256": sign(WEBHOOK_SECRET, body + b" ")},
    "same length, one character off": lambda body: {"X-Classmarker-Hmac-Sha256": _one_character_off(sign(WEBHOOK_SECRET, body))},
    "several wrong values": lambda body: {"X-Classmarker-Hmac-Sha256": f"{sign('a', body)},{sign('b', body)}, x"},
    "signature in another header": lambda body: {"X-Classmarker-Hmac-Sha1": sign(WEBHOOK_SECRET, body)},
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=str)
def test_a_forged_result_is_401_and_leaves_no_trace(
    forgery: str, client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    body = _forged_body(bridge)
    records_before = _laser_records(simulator)
    headers = {"Content-Type": "application/json", **FORGERIES[forgery](body)}
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["title"] == "Unauthorized"
    assert _writes(simulator) == []
    assert _laser_records(simulator) == records_before
    assert bridge.store.inbox.events(status=None, limit=10) == []
    assert bridge.store.outbox.messages() == []
    bridge.send_mail()
    assert smtp.messages == []


def test_the_same_result_correctly_signed_is_applied(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    """The control: the body the forgeries carry is a result the bridge would apply."""
    body, headers = signed(_forged_body(bridge))
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.get_json()["status"] == "accepted"
    assert any("ClassMarker result #777001." in str(t["notes"]) for t in _laser_records(simulator))


def test_with_verification_on_and_no_secret_configured_nothing_is_accepted(
    make_app: Callable[..., Flask], simulator: FabmanSimulator
) -> None:
    """In development the secret may be missing; verification then refuses everything, even an empty-key signature."""
    app = make_app(CLASSMARKER_WEBHOOK_SECRET=None)
    bridge = bridge_of(app)
    body = _forged_body(bridge)
    response = app.test_client().post(WEBHOOK, data=body, headers={"X-Classmarker-Hmac-Sha256": sign("", body)})
    assert response.status_code == 401
    assert _writes(simulator) == []
    assert bridge.store.inbox.events(status=None, limit=10) == []


def test_a_genuine_result_replayed_with_a_swapped_token_is_refused(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator
) -> None:
    """A captured, correctly signed delivery of member 2 whose cm_user_id is swapped for the victim's no longer verifies."""
    genuine = json.dumps(result_payload(bridge.codec.encode(2, COURSE), result_id=777002)).encode("utf-8")
    captured_signature = sign(WEBHOOK_SECRET, genuine)
    swapped = genuine.replace(json.loads(genuine)["result"]["cm_user_id"].encode(), bridge.codec.encode(VICTIM, COURSE).encode())
    response = client.post(WEBHOOK, data=swapped, headers={"X-Classmarker-Hmac-Sha256": captured_signature})
    assert response.status_code == 401
    assert _writes(simulator) == []
