"""POST /training_expiration: the existing scheduler's endpoint, 2xx only once the mail is queued."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.expiry.conftest import (
    CRON,
    LASER,
    LATHE,
    PRINTER,
    all_records,
    czech_date,
    english_date,
    expired_in,
    expiry_mails,
    outbox_keys,
    personal_link,
    prague_today,
)
from tests.support import text_of

ENDPOINT = "/training_expiration"


def _laser_record(simulator: FabmanSimulator, member_id: int) -> dict[str, Any]:
    [record] = [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == LASER]
    return record


def test_queues_the_expiry_mail_once_and_answers_2xx(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    today = prague_today()
    record = _laser_record(simulator, 1)

    answer = client.post(ENDPOINT, json={"member_id": "1", "training_id": str(LASER)}, headers=cron_headers)

    assert answer.status_code == 200
    assert answer.json == {
        "status": "queued",
        "member_id": 1,
        "training_id": LASER,
        "record_id": record["id"],
        "until_date": today.isoformat(),
    }
    assert outbox_keys(bridge.store) == [f"expiry:1:{record['id']}"]
    [mail] = expiry_mails(smtp.messages, 1)
    text = text_of(mail)
    assert "Laserová řezačka" in text and "Laser cutter" in text
    assert czech_date(today) in text and english_date(today) in text
    assert personal_link(1) in text and "cm_user_id=" in text
    # The endpoint announces; removing the record is the scheduler's job.
    assert _laser_record(simulator, 1) == record

    retried = client.post(ENDPOINT, json={"member_id": 1, "training_id": LASER}, headers=cron_headers)

    assert retried.status_code == 200
    assert retried.json["status"] == "already_queued"
    assert len(expiry_mails(smtp.messages, 1)) == 1


def test_a_sweep_after_the_endpoint_removes_the_record_without_mailing_again(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    """The same as a crash after the mail was committed and before the delete: the rerun only deletes."""
    expired = expired_in(all_records(simulator), prague_today())
    record = _laser_record(simulator, 1)
    assert client.post(ENDPOINT, json={"member_id": 1, "training_id": LASER}, headers=cron_headers).status_code == 200

    summary = client.post(CRON, headers=cron_headers).json

    total = sum(len(ids) for ids in expired.values())
    assert (summary["removed"], summary["mails_queued"], summary["errors"]) == (total, total - 2, [])
    assert record["id"] not in {r["id"] for r in simulator.state.trainings_of(1)}
    assert len(expiry_mails(smtp.messages, 1)) == 1


def test_member_without_address_gets_no_mail_and_staff_are_told(
    client: FlaskClient, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    answer = client.post(ENDPOINT, json={"member_id": 9, "training_id": LASER}, headers=cron_headers)

    assert answer.status_code == 200
    assert answer.json["status"] == "no_address"
    [alert] = smtp.messages
    assert str(alert["To"]) == "staff@fablab.example"
    assert "Member 9 has no e-mail address" in text_of(alert)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"member_id": 9999, "training_id": LASER}, 404, "member 9999"),
        ({"member_id": 1, "training_id": 999}, 404, "course 999"),
        ({"member_id": 4, "training_id": LASER}, 404, "holds no training"),
        ({"member_id": 3, "training_id": LASER}, 409, "is active"),
        ({"member_id": 4, "training_id": PRINTER}, 409, "until never"),
    ],
)
def test_nothing_to_announce_is_an_error_and_queues_nothing(
    client: FlaskClient,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
    bridge: Bridge,
    body: dict[str, int],
    status: int,
    detail: str,
) -> None:
    answer = client.post(ENDPOINT, json=body, headers=cron_headers)

    assert answer.status_code == status
    assert answer.mimetype == "application/problem+json"
    assert detail in answer.json["detail"]
    assert outbox_keys(bridge.store) == [] and smtp.messages == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "member_id"),
        ({"member_id": 1}, 400, "training_id"),
        ({"member_id": "one", "training_id": LATHE}, 422, "member_id"),
        ({"member_id": 1, "training_id": -2}, 422, "training_id"),
        ({"member_id": True, "training_id": LATHE}, 422, "member_id"),
    ],
)
def test_invalid_bodies_name_the_field(
    client: FlaskClient, cron_headers: dict[str, str], bridge: Bridge, body: dict[str, Any], status: int, field: str
) -> None:
    answer = client.post(ENDPOINT, json=body, headers=cron_headers)
    assert answer.status_code == status
    assert answer.json["field"] == field
    assert outbox_keys(bridge.store) == []


def test_a_body_that_is_not_a_json_object_is_a_400(client: FlaskClient, cron_headers: dict[str, str]) -> None:
    for body in (b"member_id=1", b"[1, 2]"):
        answer = client.post(ENDPOINT, data=body, headers={**cron_headers, "Content-Type": "application/json"})
        assert answer.status_code == 400
        assert answer.mimetype == "application/problem+json"


def test_fabman_failing_is_a_5xx_and_nothing_is_queued(
    client: FlaskClient, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str], bridge: Bridge
) -> None:
    # The client retries a read twice, so three 503s in a row reach the bridge's caller.
    simulator.faults.fail_next(3, 503, "GET", "/members/1")

    answer = client.post(ENDPOINT, json={"member_id": 1, "training_id": LASER}, headers=cron_headers)

    assert answer.status_code == 503
    assert answer.json["type"].endswith("upstream-unavailable")
    assert outbox_keys(bridge.store) == [] and smtp.messages == []


@pytest.mark.parametrize("headers", [{}, {"CronjobToken": "wrong"}, {"Authorization": "sim-admin-key"}])
def test_needs_the_cron_token(client: FlaskClient, smtp: SmtpSink, bridge: Bridge, headers: dict[str, str]) -> None:
    answer = client.post(ENDPOINT, json={"member_id": 1, "training_id": LASER}, headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert outbox_keys(bridge.store) == [] and smtp.messages == []


def test_is_off_without_a_configured_token(make_app: Callable[..., Flask], smtp: SmtpSink, cron_headers: dict[str, str]) -> None:
    client = make_app(CRONJOB_TOKEN=None).test_client()
    answer = client.post(ENDPOINT, json={"member_id": 1, "training_id": LASER}, headers=cron_headers)
    assert answer.status_code == 503
    assert answer.json["type"].endswith("not-configured")
    assert smtp.messages == []


def test_openapi_documents_both_endpoints_with_the_cron_token(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/apispec.json").json
    validate(spec)
    for path in (ENDPOINT, CRON):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"CronjobToken": []}]
        assert {"200", "401", "503"} <= set(operation["responses"])
    assert spec["paths"][CRON]["post"]["parameters"][0]["name"] == "dry_run"
