"""Every operation answers what its OpenAPI operation documents: a real answer of each, validated against its schema.

One bridge on the simulators (Fabman and ClassMarker's API) is driven through
each documented operation once or more, with data that makes it answer 200
(and for the receipts, each kind of answer). Every answer's body is checked
against the schema the served document gives that operation, status code and
content type, so the generated schema cannot drift from what the code writes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator

from bridge.application import bridge_of
from bridge.clock import SettableClock
from harness import FABMAN_WEBHOOK_TOKEN
from harness.classmarker import result_payload, signed
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount

PETRA, JAN, LASER, CNC, LASER_CUTTER = 1, 2, 2, 4, 1


@dataclass(frozen=True)
class Answer:
    """One call of a documented operation and what it answered."""

    method: str
    path: str
    """The operation's path as the document names it (`/admin/events/{event_id}`)."""
    status: int
    content_type: str
    body: Any


def sample_answers(
    client: FlaskClient, app: Flask, account: ClassMarkerAccount, clock: SettableClock, simulator: FabmanSimulator
) -> list[Answer]:
    """Call every documented operation with data that makes it answer (mostly 200); each call's answer."""
    bridge = bridge_of(app)
    api = {"Authorization": simulator.api_key}
    cron = {"CronjobToken": app_cron_token(app)}
    answers: list[Answer] = []

    def call(method: str, path: str, url: str | None = None, **kwargs: Any) -> Any:
        response = client.open(url or path, method=method.upper(), **kwargs)
        body = response.get_data(as_text=True) if response.mimetype == "text/csv" else response.get_json()
        answers.append(Answer(method, path, response.status_code, response.mimetype, body))
        assert response.status_code < 500, (path, body)
        return body

    started = int((clock.now() - dt.timedelta(minutes=10)).timestamp())
    payload = result_payload(bridge.codec.encode(PETRA, LASER))
    payload["result"].update(time_started=started, time_finished=started + 420)
    body, headers = signed(payload)
    receipt = call("post", "/add_classmarker_training", data=body, headers=headers)
    call("post", "/add_classmarker_training", data=body, headers=headers)  # duplicate
    ping, ping_headers = signed({"payload_type": "single_user_test_results_link", "payload_status": "verify"})
    call("post", "/add_classmarker_training", data=ping, headers=ping_headers)
    forged_body, forged_headers = signed(result_payload("not-a-token", result_id=88123402))
    call("post", "/add_classmarker_training", data=forged_body, headers=forged_headers)  # rejected: no such token

    event_id = receipt["event_id"]
    call("get", "/admin/events", "/admin/events?limit=10", headers=api)
    call("get", "/admin/events/{event_id}", f"/admin/events/{event_id}", headers=api)
    call("post", "/admin/events/{event_id}/replay", f"/admin/events/{event_id}/replay", headers=api)
    call("post", "/admin/events/{event_id}/replay", f"/admin/events/{event_id + 1}/replay", headers=api)
    call("post", "/admin/reset_attempts", json={"member_id": JAN, "training_id": CNC}, headers=api)
    call("get", "/admin/jobs", headers=api)
    call("get", "/admin/evidence", headers=api)
    call("get", "/admin/evidence", "/admin/evidence?format=csv", headers=api)
    call("get", "/admin/stats", headers=api)

    call("get", "/absolved_trainings/{member_id}", "/absolved_trainings/5?include_offline=true", headers=api)
    call("get", "/absolved_training/{member_id}", f"/absolved_training/{PETRA}", headers=api)
    call("get", "/available_trainings/{member_id}", f"/available_trainings/{JAN}", headers=api)
    call("post", "/get_training_links", json={"member_id": JAN, "training_id": CNC}, headers=api)
    call("post", "/get_training_links", json={"member_id": 10, "training_id": 12}, headers=api)
    call("get", "/training_overview/{member_id}", f"/training_overview/{JAN}", headers=api)

    call("post", "/cron/checkpoint", headers=cron)
    call("get", "/admin/evidence/checkpoints", headers=api)
    call("get", "/admin/evidence/proof", f"/admin/evidence/proof?member_id={PETRA}&course_id={LASER}", headers=api)
    call("get", "/admin/evidence/consistency", "/admin/evidence/consistency?first=1&second=1", headers=api)
    call("get", "/evidence/key")
    call("get", "/admin/members/{member_id}/export", f"/admin/members/{PETRA}/export", headers=api)
    call("post", "/cron/purge", headers=cron)

    call("post", "/cron/retry", headers=cron)
    call("post", "/training_expiration", json={"member_id": 8, "training_id": 9}, headers=cron)
    call("post", "/training_expiration", json={"member_id": 7, "training_id": 1}, headers=cron)
    call("post", "/cron/expire_trainings", "/cron/expire_trainings?dry_run=true", headers=cron)
    call("post", "/cron/expire_trainings", headers=cron)
    account.take_quiz(bridge.codec.encode(JAN, LASER), finished_at=clock.now() - dt.timedelta(minutes=3), passed=False)
    account.take_quiz(bridge.codec.encode(PETRA, CNC), finished_at=clock.now() - dt.timedelta(minutes=2), passmark=None)
    call("post", "/cron/reconcile", headers=cron)
    call("post", "/cron/reconcile", "/cron/reconcile?since=1763712000", headers=cron)

    hook = f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}"
    entry = simulator.state.add_resource_log(JAN, LASER_CUTTER, "denied", "noPermission")
    details = {"log": entry, "resource": simulator.state.resource(LASER_CUTTER), "member": simulator.state.member(JAN)}
    denial = {"id": 80001, "type": "resourceLog_created", "createdAt": entry["createdAt"], "details": details}
    for event in (denial, denial, {"id": 80002, "type": "test"}, {"id": 80003, "type": "member_updated"}):
        call("post", "/fabman_webhook", hook, data=json.dumps(event), headers={"Content-Type": "application/json"})

    call("get", "/health")
    call("get", "/ready")

    # problem answers: each is the shared Problem its operation documents
    call("get", "/admin/events/{event_id}", "/admin/events/99999", headers=api)  # 404
    call("get", "/admin/events", "/admin/events?limit=0", headers=api)  # 422 naming `limit`
    call("get", "/admin/events", "/admin/events?status=nope", headers=api)  # 400 listing the allowed values
    call("post", "/get_training_links", json={"member_id": 1})  # 401: no key
    call("post", "/get_training_links", json={"member_id": 1}, headers=api)  # 400 naming `training_id`
    call("post", "/training_expiration", json={"member_id": PETRA, "training_id": 1}, headers=cron)  # 409: still active
    return answers


def app_cron_token(app: Flask) -> str:
    token = bridge_of(app).settings.cronjob_token
    assert token
    return token


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    return OAS30Validator({**schema, "components": spec["components"]})


def _documented(spec: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """The schema the document gives this answer (a `$ref` to a shared response resolved)."""
    response = spec["paths"][answer.path][answer.method]["responses"][str(answer.status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = response["content"][answer.content_type]["schema"]
    return schema


@pytest.fixture
def answers(
    reconciling: Callable[..., Flask], account: ClassMarkerAccount, clock: SettableClock, simulator: FabmanSimulator
) -> tuple[list[Answer], dict[str, Any]]:
    app = reconciling(clock, EVIDENCE_WITNESS_EMAILS="witness@fablab.example", PAYLOAD_RETENTION_DAYS="30")
    client = app.test_client()
    spec = client.get("/apispec.json").get_json()
    return sample_answers(client, app, account, clock, simulator), spec


@pytest.mark.e2e
def test_every_documented_operation_answers_what_its_schema_says(answers: tuple[list[Answer], dict[str, Any]]) -> None:
    found, spec = answers
    operations = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert operations == {(answer.method, answer.path) for answer in found}  # every operation was called
    assert {(a.method, a.path) for a in found if a.status == 200} == operations  # and answered 200 at least once
    for answer in found:
        validator = _validator(spec, _documented(spec, answer))
        errors = [error.message for error in validator.iter_errors(answer.body)]
        assert not errors, (answer.method, answer.path, answer.status, errors[:3])


def test_a_bridge_that_is_not_ready_answers_the_documented_problem(make_app: Callable[..., Flask]) -> None:
    client = make_app(CRONJOB_TOKEN=None).test_client()
    spec = client.get("/apispec.json").get_json()

    response = client.get("/ready")
    answer = Answer("get", "/ready", response.status_code, response.mimetype, response.get_json())
    assert (answer.status, answer.body["checks"]["cronjob_token"]) == (503, False)
    _validator(spec, _documented(spec, answer)).validate(answer.body)


@pytest.mark.e2e
def test_the_receipts_cover_each_kind_of_answer(answers: tuple[list[Answer], dict[str, Any]]) -> None:
    found, _ = answers
    webhook = [a.body["status"] for a in found if a.path == "/add_classmarker_training"]
    fabman = [a.body["status"] for a in found if a.path == "/fabman_webhook"]

    assert webhook == ["accepted", "duplicate", "ignored", "rejected"]
    assert fabman == ["stored", "duplicate", "ok", "ignored"]
