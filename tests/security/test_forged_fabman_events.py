"""Forged Fabman events: Fabman signs nothing, so whoever holds the webhook URL can post any body.

The token in the URL keeps strangers out; these attacks come from someone who
has it (a leaked URL, a log line). The event is a hint: the bridge takes from
it which member was refused at which machine and asks Fabman's API for the
names, so attacker text in the body never reaches a member's mailbox. Ids
must be Fabman ids (positive, below 2^53): before, an id of 2^63 or more got
a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from harness import FABMAN_WEBHOOK_TOKEN
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.support import text_of

PETRA, LASER_CUTTER = 1, 1
PETRA_MAIL = "petra.dvorakova@example.org"
ATTACKER_TEXT = "FREE TRAINING - log in at https://evil.example/fablab"
WEBHOOK = f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}"


def denial(event_id: Any = 5001, member: Any = PETRA, resource: Any = LASER_CUTTER, **body: Any) -> dict[str, Any]:
    """A `resourceLog_created` denial as Fabman sends it, with whatever the attacker puts in."""
    return {
        "id": event_id,
        "type": "resourceLog_created",
        "createdAt": "2026-12-01T10:00:00Z",
        "details": {
            "log": {"id": 9001, "type": "denied", "reason": "noPermission", "member": member, "resource": resource},
            "resource": {"id": resource, "name": ATTACKER_TEXT, "state": "active"},
            "member": {"id": member, "firstName": ATTACKER_TEXT, "lastName": ATTACKER_TEXT},
            **body,
        },
    }


def test_the_mail_names_fabmans_equipment_not_the_attackers_text(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    response = client.post(WEBHOOK, json=denial())

    assert response.status_code == 200 and response.json["status"] == "stored"
    bridge.send_mail()
    [mail] = smtp.to(PETRA_MAIL)
    text = text_of(mail) + str(mail["Subject"]) + str(mail.get_body(preferencelist=("html",)))
    assert "Laserová řezačka" in text  # Fabman's name of equipment 1 (GET /resources/1)
    assert "Petra" in text  # the member's name from GET /members/1
    assert "evil.example" not in text and "FREE TRAINING" not in text
    assert any(r.method == "GET" and r.path.endswith("/resources/1") for r in simulator.requests)


def test_a_denial_at_equipment_fabman_does_not_know_mails_nobody(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    """A course lists the machine, but Fabman has no such resource: no mail with a made-up name."""
    simulator.state.edit_course(2, resources=[LASER_CUTTER, 4242])

    response = client.post(WEBHOOK, json=denial(event_id=5002, resource=4242))

    assert response.json["status"] == "stored"
    assert bridge.store.rules.fabman_event("5002").outcome == "unknown_equipment"  # type: ignore[union-attr]
    bridge.send_mail()
    assert smtp.to(PETRA_MAIL) == []


HUGE_IDS = {
    "event id 2^63": denial(event_id=2**63),
    "event id 2^53": denial(event_id=2**53),
    "event id as digits 2^64": denial(event_id=str(2**64)),
    "event id 0": denial(event_id=0),
    "event id -1": denial(event_id=-1),
    "member id 2^63": denial(member=2**63),
    "member id 2^53": denial(member=2**53),
    "member id -7": denial(member=-7),
    "resource id 2^63": denial(resource=2**63),
    "resource id 2^53 as digits": denial(resource=str(2**53)),
    "resource id 0": denial(resource=0),
}


@pytest.mark.parametrize("attack", HUGE_IDS, ids=str)
def test_ids_outside_fabmans_range_are_400_and_nothing_is_stored(
    attack: str, client: FlaskClient, bridge: Bridge, smtp: SmtpSink
) -> None:
    response = client.post(WEBHOOK, json=HUGE_IDS[attack])

    assert response.status_code == 400, response.json
    assert response.json["title"] == "Bad request" and response.json["status"] == 400
    assert "id" in response.json["detail"] and "2^53" in response.json["detail"]
    assert bridge.store.rules.fabman_event(str(HUGE_IDS[attack]["id"])) is None
    assert bridge.store.rules.fabman_events_to_handle(max_attempts=5) == []
    assert set(bridge.store.database.table_counts().values()) == {0}
    bridge.send_mail()
    assert smtp.messages == []


def test_the_largest_fabman_id_is_still_an_id(client: FlaskClient, bridge: Bridge) -> None:
    """The control: 2^53 - 1 is inside the range (stored; that member simply does not exist)."""
    response = client.post(WEBHOOK, json=denial(event_id=2**53 - 1, member=2**53 - 1, resource=2**53 - 1))

    assert response.status_code == 200 and response.json["status"] == "stored"
    assert bridge.store.rules.fabman_event(str(2**53 - 1)) is not None
