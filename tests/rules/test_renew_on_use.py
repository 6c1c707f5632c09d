"""Contract section 15, trainings that live on use: a permitted use at a machine renews them.

The seed's vinyl cutter course (5, six months, equipment 4: the plotter)
renews on use. Ondřej (9) holds it until a week from today; Petra (1) does
not hold it; Tomáš (3) holds the laser course, which does not renew on use.
Fabman's events are posted to the webhook in process with a settable clock,
and once through gunicorn with Fabman's re-sends.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.adapters.store import Store
from bridge.application import bridge_of
from bridge.clock import SettableClock
from bridge.domain.calendar import add_months, today_in
from harness import FABMAN_WEBHOOK_TOKEN
from harness.launch import ROOT, GunicornBridge, SmtpSink
from sandbox.simulator import FabmanSimulator, FabmanWebhookSender
from tests.console.conftest import OWNER, sign_in
from tests.rules.conftest import PRAGUE, mail_to
from tests.rules.test_fabman_webhook import handled
from tests.support import text_of

PETRA, TOMAS, ONDREJ = 1, 3, 9
ONDREJ_MAIL = "ondrej.horak@example.org"
LASER_CUTTER, PLOTTER = 1, 4
LASER, VINYL = 2, 5
WEBHOOK = f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}"


def used(client: FlaskClient, simulator: FabmanSimulator, store: Store, member_id: int, resource_id: int, key: int) -> str:
    """The member uses the machine with Fabman's permission; what the bridge made of Fabman's event."""
    entry = simulator.state.add_resource_log(member_id, resource_id, "allowed")
    details = {"log": entry, "resource": simulator.state.resource(resource_id), "member": simulator.state.member(member_id)}
    event = {"id": key, "type": "resourceLog_created", "createdAt": entry["createdAt"], "details": details}
    answer = client.post(WEBHOOK, json=event)
    assert answer.status_code == 200 and answer.json["status"] == "stored", answer.json
    return handled(store, key).outcome  # type: ignore[no-any-return]


def records(simulator: FabmanSimulator, member_id: int, course_id: int) -> list[dict[str, Any]]:
    return [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == course_id]


def test_a_use_renews_the_training_new_record_first_then_the_old_one_removed_once_a_day(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, clock: SettableClock, store: Store
) -> None:
    client = make_app(clock=clock).test_client()
    today = today_in(PRAGUE, clock.now())
    [old] = records(simulator, ONDREJ, VINYL)
    simulator.requests.clear()

    assert used(client, simulator, store, ONDREJ, PLOTTER, 9101) == "renewed"

    [new] = records(simulator, ONDREJ, VINYL)
    assert new["id"] != old["id"]
    assert (new["date"], new["fromDate"], new["untilDate"]) == (old["date"], today.isoformat(), add_months(today, 6).isoformat())
    assert f"Renewed on use of equipment #{PLOTTER} on {today.isoformat()} (Fabman event 9101)" in new["notes"]
    writes = [f"{r.method} {r.path}" for r in simulator.requests if r.method in ("POST", "DELETE")]
    assert writes == [f"POST /members/{ONDREJ}/trainings", f"DELETE /members/{ONDREJ}/trainings/{old['id']}"]
    [row] = store.ledger.entries(member_id=ONDREJ)
    assert (row.result_id, row.course_id, row.fabman_record_id) == (f"renewed:{ONDREJ}:{VINYL}:{today}", VINYL, new["id"])
    assert row.evidence is not None and row.evidence["event"] == "renewed" and row.evidence["fabman_event"] == "9101"
    assert (row.training_date, row.until_date) == (old["date"], new["untilDate"])

    assert used(client, simulator, store, ONDREJ, PLOTTER, 9102) == "renewed_today"
    assert [r["id"] for r in records(simulator, ONDREJ, VINYL)] == [new["id"]] and len(
        store.ledger.entries(member_id=ONDREJ)
    ) == 1

    clock.advance(days=1)
    assert used(client, simulator, store, ONDREJ, PLOTTER, 9103) == "renewed"
    [next_day] = records(simulator, ONDREJ, VINYL)
    assert next_day["untilDate"] == add_months(today + dt.timedelta(days=1), 6).isoformat()
    assert len(store.ledger.entries(member_id=ONDREJ)) == 2
    bridge_of(client.application).send_mail()
    assert smtp.to(ONDREJ_MAIL) == []  # renewals send no mail


def test_only_held_trainings_of_courses_that_renew_on_use_are_renewed(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, store: Store
) -> None:
    client = make_app().test_client()
    laser_before = records(simulator, TOMAS, LASER)

    assert used(client, simulator, store, PETRA, PLOTTER, 9201) == "not_held"
    assert used(client, simulator, store, TOMAS, LASER_CUTTER, 9202) == "no_renewing_course"

    assert records(simulator, PETRA, VINYL) == [] and records(simulator, TOMAS, LASER) == laser_before
    assert store.ledger.entries() == []


def test_an_expired_training_is_not_renewed_by_a_use(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, store: Store, clock: SettableClock
) -> None:
    client = make_app(clock=clock).test_client()
    clock.advance(days=8)  # Ondřej's vinyl training ended yesterday

    assert used(client, simulator, store, ONDREJ, PLOTTER, 9301) == "not_held"
    assert len(records(simulator, ONDREJ, VINYL)) == 1 and store.ledger.entries() == []


def test_the_reminder_says_the_training_expires_after_six_months_without_use(
    make_app: Callable[..., Flask], smtp: SmtpSink
) -> None:
    bridge = bridge_of(make_app())

    bridge.expire_trainings()
    bridge.send_mail()

    [reminder] = mail_to(smtp, ONDREJ_MAIL, "expire soon")
    text = text_of(reminder)
    assert "It expires after 6 months without use; each use of the machine renews it." in text
    assert "Školení vyprší po 6 měsících bez použití; každé použití stroje ho prodlouží." in text
    assert text.count("without use") == 1  # the safety course does not renew on use


@pytest.mark.e2e
def test_through_gunicorn_fabmans_resends_renew_once(env: dict[str, str], simulator: FabmanSimulator, store: Store) -> None:
    with GunicornBridge(env, workers=2, threads=4) as bridge:
        fabman = FabmanWebhookSender(f"{bridge.url}/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}")
        first = fabman.record_resource_log_created(simulator.state, simulator.state.add_resource_log(ONDREJ, PLOTTER, "allowed"))
        second = fabman.record_resource_log_created(simulator.state, simulator.state.add_resource_log(ONDREJ, PLOTTER, "allowed"))
        deliveries = fabman.deliver(first, second, first, second, times=2)
        assert all(delivery.delivered for delivery in deliveries)
        outcomes = sorted(handled(store, event.id).outcome for event in (first, second))
        fabman.close()

    assert outcomes[0] == "renewed" and outcomes[1] in ("renewed_today", "renewing_elsewhere")
    [record] = records(simulator, ONDREJ, VINYL)
    assert record["fromDate"] == today_in(PRAGUE).isoformat()
    assert len(store.ledger.entries(member_id=ONDREJ)) == 1


def test_staff_see_the_renewal_as_evidence_on_the_console(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    client = make_app(STAFF_EMAILS="staff@fablab.example").test_client()
    assert used(client, simulator, store, ONDREJ, PLOTTER, 9401) == "renewed"
    sign_in(client, smtp, OWNER)

    page = client.get(f"/staff/evidence?member={ONDREJ}&lang=en").get_data(as_text=True)
    download = client.get(f"/staff/evidence.csv?member={ONDREJ}").get_data(as_text=True)

    assert "Vinylový řezací plotr" in page and "Renewed on use of equipment #4" in page
    assert f"renewed:{ONDREJ}:{VINYL}:" in download and '""event"": ""renewed""' in download


@pytest.mark.e2e
def test_a_renewal_is_a_renewed_leaf_whose_bundle_verifies_offline(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, clock: SettableClock, store: Store, tmp_path: Path
) -> None:
    """Section 16: the renewal's ledger row and its `renewed` leaf are written together, and the proof holds."""
    app = make_app(clock=clock)
    client, bridge = app.test_client(), bridge_of(app)
    assert used(client, simulator, store, ONDREJ, PLOTTER, 9301) == "renewed"
    [row] = store.ledger.entries(member_id=ONDREJ)
    [leaf] = [leaf for leaf in store.evidence.leaves() if leaf.event == "renewed"]
    said = json.loads(leaf.leaf)
    assert (said["member_id"], said["course_id"], said["result_id"], said["fabman_record_id"]) == (
        ONDREJ,
        VINYL,
        row.result_id,
        row.fabman_record_id,
    )
    assert said["subject"] is not None and ONDREJ_MAIL not in leaf.leaf.decode("utf-8")

    report = bridge.evidence.verify()
    assert report.problems == [], report.problems
    bundle = client.get(
        f"/admin/evidence/proof?member_id={ONDREJ}&course_id={VINYL}", headers={"Authorization": simulator.api_key}
    ).json
    assert base64.b64decode(bundle["leaf"]) == leaf.leaf
    (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    checked = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "verify_evidence.py"),
            str(tmp_path / "bundle.json"),
            "--key",
            bundle["public_key"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
