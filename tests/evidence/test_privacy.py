"""Personal data (contract section 17): purged after retention, erased with the member, exported on request."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import Bridge
from bridge.clock import SettableClock
from harness import FABMAN_WEBHOOK_TOKEN
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import ROOT
from sandbox.simulator import FabmanSimulator
from tests.evidence.conftest import EVA, MARTIN, SAFETY, SOLDERING
from tests.support import problem

QUIZ_EMAIL = "martin.quiz@example.org"
QUIZ_IP = "198.51.100.23"


@pytest.fixture
def martin_email(simulator: FabmanSimulator) -> str:
    return str(simulator.state.member(MARTIN)["emailAddress"])


def send_as(client: FlaskClient, bridge: Bridge, member_id: int, course_id: int, result_id: int, **fields: Any) -> None:
    """A result whose body names the member by a quiz e-mail and IP of their own."""
    fields.setdefault("quiz", quiz_of(course_id))
    payload = result_payload(bridge.codec.encode(member_id, course_id), result_id=result_id, **fields)
    if member_id == MARTIN:
        payload["result"].update(email=QUIZ_EMAIL, ip_address=QUIZ_IP, first="Martin", last="Svoboda-Quiz")
    body, headers = signed(payload)
    assert client.post("/add_classmarker_training", data=body, headers=headers).status_code == 200


@pytest.fixture
def history(client: FlaskClient, bridge: Bridge) -> None:
    """Martin passes two courses, Eva fails one; the mail is sent."""
    send_as(client, bridge, MARTIN, SOLDERING, 7001)
    send_as(client, bridge, MARTIN, SAFETY, 7002)
    send_as(client, bridge, EVA, SAFETY, 7003, passed=False, percentage=10)
    assert {message.status for message in bridge.store.outbox.messages()} == {"sent"}


def test_the_purge_removes_old_bodies_keeps_the_evidence_and_is_recorded_as_a_job(
    client: FlaskClient, bridge: Bridge, history: None, clock: SettableClock, runner: FlaskCliRunner, cron_headers: dict[str, str]
) -> None:
    fabman_event = {
        "id": 990001,
        "type": "member_updated",
        "createdAt": "2026-12-07T08:00:00Z",
        "details": {"member": {"id": EVA}},
    }
    assert client.post(f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}", json=fabman_event).json["status"] == "ignored"
    clock.advance(days=31)
    first = client.post("/cron/purge", headers=cron_headers).json
    assert first == {
        "payloads_purged": 0,
        "fabman_payloads_purged": 0,
        "mail_bodies_purged": 3,
        "payload_retention_days": 100,
        "mail_retention_days": 30,
    }
    clock.advance(days=70)
    second = runner.invoke(args=["privacy", "purge"])

    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["payloads_purged"] == 3
    assert json.loads(second.output)["fabman_payloads_purged"] == 1
    assert bridge.store.rules.fabman_event("990001").payload == ""
    leaves = {json.loads(leaf.leaf)["result_id"]: json.loads(leaf.leaf) for leaf in bridge.store.evidence.leaves()}
    for event in bridge.store.inbox.events():
        assert event.payload == "" and event.payload_purged_at is not None
        assert event.payload_sha256 == leaves[event.result_key]["payload_sha256"]  # the leaf's counterpart stays
    assert all(message.body_text == "" and message.body_html is None for message in bridge.store.outbox.messages())
    assert len(bridge.store.ledger.entries()) == 2  # the evidence fields stay
    assert next(job for job in bridge.job_status() if job.name == "purge").last_run.by == "cli"
    assert runner.invoke(args=["evidence", "verify"]).exit_code == 0


def test_a_purged_result_cannot_be_replayed(client: FlaskClient, bridge: Bridge, history: None, clock: SettableClock) -> None:
    clock.advance(days=101)
    bridge.privacy.purge()
    assert bridge.store.inbox.requeue(bridge.store.inbox.events()[0].id) is False


def test_retention_off_keeps_everything(make_app: Callable[..., Flask], clock: SettableClock) -> None:
    app = make_app(clock=clock, PAYLOAD_RETENTION_DAYS="off", MAIL_RETENTION_DAYS="off")
    bridge = app.extensions["fablab_bridge"]
    send_as(app.test_client(), bridge, MARTIN, SOLDERING, 7001)
    clock.advance(days=3650)
    assert bridge.privacy.purge().payloads_purged == 0
    assert QUIZ_EMAIL in bridge.store.inbox.events()[0].payload


def test_erasure_waits_for_fabman_to_confirm_the_member_is_gone(runner: FlaskCliRunner, bridge: Bridge, history: None) -> None:
    refused = runner.invoke(args=["privacy", "erase", "--member", str(MARTIN)])
    assert refused.exit_code == 1 and "still exists in Fabman" in refused.output
    assert QUIZ_EMAIL in bridge.store.inbox.events(limit=3)[-1].payload
    assert bridge.store.privacy.erased_member(MARTIN) is None


@pytest.mark.e2e
def test_erase_removes_personal_data_everywhere_keeps_evidence_that_still_verifies(
    runner: FlaskCliRunner,
    bridge: Bridge,
    client: FlaskClient,
    api_headers: dict[str, str],
    simulator: FabmanSimulator,
    martin_email: str,
    history: None,
    tmp_path: Path,
) -> None:
    bridge.evidence.checkpoint()
    simulator.state.delete_member(MARTIN)
    erased = runner.invoke(args=["privacy", "erase", "--member", str(MARTIN)])

    assert erased.exit_code == 0, erased.output
    removed = json.loads(erased.output)["removed"]
    assert (removed["result_bodies"], removed["mails"], removed["salts"]) == (2, 2, 1)
    dump = json.dumps(client.get(f"/admin/members/{MARTIN}/export", headers=api_headers).json)
    for personal in (QUIZ_EMAIL, QUIZ_IP, "Svoboda-Quiz", martin_email):
        assert personal not in dump
    assert not bridge.store.evidence.has_salt(MARTIN) and bridge.store.evidence.has_salt(EVA)
    assert [leaf.event for leaf in bridge.store.evidence.of_member(MARTIN)] == ["granted", "granted", "erased"]
    assert [(row.result_id, row.percentage) for row in bridge.store.ledger.entries(member_id=MARTIN)] == [
        ("7002", 90.0),
        ("7001", 90.0),
    ]
    [action] = [a for a in bridge.store.console.staff_actions(target=f"member:{MARTIN}")[0] if a.action == "erase"]
    assert action.staff.startswith("cli:") and "result_bodies 2" in (action.detail or "")
    assert runner.invoke(args=["evidence", "verify"]).exit_code == 0
    bundle = client.get(f"/admin/evidence/proof?member_id={MARTIN}&course_id={SOLDERING}", headers=api_headers).json
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    tool = [sys.executable, str(ROOT / "tools" / "verify_evidence.py"), str(tmp_path / "bundle.json")]
    assert subprocess.run(tool, capture_output=True, timeout=60, check=False).returncode == 0


def test_sqlite_files_keep_no_erased_value(
    runner: FlaskCliRunner, bridge: Bridge, simulator: FabmanSimulator, martin_email: str, history: None
) -> None:
    if not bridge.store.database.is_sqlite:
        pytest.skip("the database files are SQLite's")
    database = Path(bridge.store.database.engine.url.database or "")
    files = [database, database.with_name(database.name + "-wal")]
    before = b"".join(path.read_bytes() for path in files if path.exists())
    assert QUIZ_EMAIL.encode() in before and martin_email.encode() in before  # the check can fail

    simulator.state.delete_member(MARTIN)
    assert runner.invoke(args=["privacy", "erase", "--member", str(MARTIN)]).exit_code == 0

    after = b"".join(path.read_bytes() for path in files if path.exists())
    for personal in (QUIZ_EMAIL, QUIZ_IP, "Svoboda-Quiz", martin_email):
        assert personal.encode() not in after, personal
    assert b"eva" in after.lower()  # the others' data is still there


def test_fabmans_member_deleted_event_erases_after_asking_fabman(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, history: None
) -> None:
    member = simulator.state.member(MARTIN)
    event = {"id": 880001, "type": "member_deleted", "createdAt": "2026-12-07T08:00:00Z", "details": {"member": member}}
    early = client.post(f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}", json=event).json
    assert early["status"] == "stored"
    assert bridge.store.rules.fabman_event("880001").outcome == "member_still_exists"  # Fabman still has him: a forged event
    assert bridge.store.privacy.erased_member(MARTIN) is None

    simulator.state.delete_member(MARTIN)
    client.post(f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}", json={**event, "id": 880002})

    assert bridge.store.rules.fabman_event("880002").outcome == "erased"
    erased = bridge.store.privacy.erased_member(MARTIN)
    assert erased is not None and erased.erased_by == "fabman event 880002"
    assert all(QUIZ_EMAIL not in e.payload for e in bridge.store.inbox.events())
    assert (
        all(e.payload == "" for e in bridge.store.fabman_events_of(MARTIN)) if hasattr(bridge.store, "fabman_events_of") else True
    )


def test_export_is_one_json_document_of_everything_held(
    client: FlaskClient, runner: FlaskCliRunner, api_headers: dict[str, str], history: None
) -> None:
    by_api = client.get(f"/admin/members/{MARTIN}/export", headers=api_headers).json
    by_cli = json.loads(runner.invoke(args=["privacy", "export", "--member", str(MARTIN)]).output)

    assert by_api["member_id"] == by_cli["member_id"] == MARTIN
    assert [r["result_key"] for r in by_api["results"]] == ["7001", "7002"]
    assert by_api["results"][0]["payload"]["result"]["email"] == QUIZ_EMAIL
    assert len(by_api["mail"]) == 2 and len(by_api["ledger"]) == 2 and len(by_api["evidence"]) == 2
    assert by_api["erased"] is None and by_api["subject_salt_kept"] is True
    problem(client.get(f"/admin/members/{MARTIN}/export"), 401)


def test_the_console_says_a_body_was_purged_and_a_member_erased(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: Any, history: None, clock: SettableClock
) -> None:
    from tests.console.conftest import sign_in

    event = next(e for e in bridge.store.inbox.events() if e.result_key == "7003")  # Eva's
    clock.advance(days=101)
    bridge.privacy.purge()
    sign_in(client, smtp)
    purged = client.get(f"/staff/results/{event.id}?lang=en").get_data(as_text=True)
    assert 'id="payload-purged"' in purged and "removed" in purged and 'class="payload"' not in purged

    simulator.state.delete_member(MARTIN)
    bridge.privacy.erase(MARTIN, by="test staff")
    martins = next(e for e in bridge.store.inbox.events() if e.result_key == "7001")
    page = client.get(f"/staff/results/{martins.id}?lang=en").get_data(as_text=True)
    assert 'id="member-erased"' in page and "test staff" in page
    listing = client.get("/staff/evidence?lang=en").get_data(as_text=True)
    assert listing.count(">erased</span>") == 2  # both of Martin's ledger rows
