"""Contract section 13, Fabman's webhook: refused at a machine, the quiz link arrives.

Fabman is played by the simulator's webhook sender (re-sends, late and out
of order). The bridge is gunicorn for Petra's whole story; for the rest it is
the app in this process, the sender's session answered by it (a WSGI
adapter), with a settable clock for the seven days between two mails about
one machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.store import Store
from bridge.clock import SettableClock
from harness import FABMAN_WEBHOOK_TOKEN
from harness.launch import GunicornBridge, SmtpSink
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator, FabmanWebhookSender
from tests.rules.conftest import InProcessBridge, english_moment, mail_to, mails_with, quiz_links, set_metadata, whole_minutes_ago
from tests.support import problem, text_of

PETRA, JAN, ZUZANA, LUCIE = 1, 2, 10, 4
PETRA_MAIL, JAN_MAIL = "petra.dvorakova@example.org", "jan.novak@example.org"
LASER_CUTTER, PRUSA, BENCH_LATHE = 1, 2, 5
LASER, PRINTER = 2, 3
SUBJECT = "Training for"


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[GunicornBridge]:
    with GunicornBridge({**env, "COOLDOWN_HOURS": "24"}, workers=2, threads=4) as bridge:
        yield bridge


@pytest.fixture
def in_process(make_app: Callable[..., Flask]) -> Flask:
    """The bridge in this process, configured as `served` is."""
    return make_app(COOLDOWN_HOURS="24")


def sender(bridge: GunicornBridge | Flask, token: str | None = FABMAN_WEBHOOK_TOKEN) -> FabmanWebhookSender:
    """Fabman sending its webhook to gunicorn, or to an app in this process through the sender's own session."""
    query = "" if token is None else f"?token={token}"
    if isinstance(bridge, GunicornBridge):
        return FabmanWebhookSender(f"{bridge.url}/fabman_webhook{query}")
    in_process = InProcessBridge(bridge)
    return FabmanWebhookSender(f"{in_process.url}/fabman_webhook{query}", session=in_process.session)


def refused(simulator: FabmanSimulator, fabman: FabmanWebhookSender, member_id: int, resource_id: int, **options: Any) -> Any:
    """A member is refused at a machine now (or at `created_at`): the log entry, and Fabman's event for it."""
    entry = simulator.state.add_resource_log(member_id, resource_id, "denied", "noPermission", **options)
    return fabman.record_resource_log_created(simulator.state, entry)


def handled(store: Store, key: object) -> Any:
    """The stored Fabman event once the bridge has handled it."""
    return wait_until(
        lambda: (event := store.rules.fabman_event(str(key))) is not None and event.status != "received" and event,
        timeout=20,
        what=f"Fabman event {key} to be handled",
    )


@pytest.mark.e2e
def test_petra_refused_at_the_laser_cutter_gets_her_quiz_link_once(
    env: dict[str, str], served: GunicornBridge, simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    codec = CmUserIdCodec([env["FERNET_KEY"]])
    trainings_before = simulator.state.trainings_of(PETRA)
    with sender(served) as fabman:
        event = refused(simulator, fabman, PETRA, LASER_CUTTER)
        deliveries = fabman.deliver(event, times=3)  # Fabman re-sends

        assert [d.status for d in deliveries] == [200, 200, 200]
        assert [d.body for d in deliveries][0].count('"status":"stored"') == 1
        assert all('"status":"duplicate"' in d.body for d in deliveries[1:])
        [mail] = mail_to(smtp, PETRA_MAIL, SUBJECT)
        row = handled(store, event.id)

        # Refused again the same week: no second mail.
        again = refused(simulator, fabman, PETRA, LASER_CUTTER)
        assert fabman.deliver(again)[0].status == 200
        assert handled(store, again.id).outcome == "mailed_recently"

    assert str(mail["Subject"]) == "Školení k zařízení Laserová řezačka / Training for Laserová řezačka"
    text = text_of(mail)
    assert "Dobrý den" in text and "Hi Petra" in text and "„Laserová řezačka“" in text and '"Laser cutter"' in text
    assert set(quiz_links(codec, mail)) == {(PETRA, LASER)}
    assert "https://wiki.example.org/fablab/laser" in text and "https://www.youtube.com/watch?v=Lr8mQe2Vx0k" in text
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert 'lang="cs"' in html and 'lang="en"' in html and "cm_user_id=" in html
    assert (row.status, row.outcome, row.type, row.member_id, row.resource_id) == (
        "handled",
        "mailed",
        "resourceLog_created",
        PETRA,
        LASER_CUTTER,
    )
    assert len(mails_with(smtp, PETRA_MAIL, "")) == 1
    assert simulator.state.trainings_of(PETRA) == trainings_before  # Fabman is only read
    [outbox] = [m for m in store.outbox.messages(member_id=PETRA)]
    assert outbox.dedupe_key == f"machine:{PETRA}:{LASER_CUTTER}:{event.id}" and outbox.status == "sent"


def test_courses_out_of_attempts_or_waiting_are_named_with_what_to_do(
    env: dict[str, str], in_process: Flask, simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    finished = whole_minutes_ago(60)
    set_metadata(
        simulator,
        PETRA,
        lambda metadata: {
            "courses_cm": {
                "failed_courses": [{"id": PRINTER, "title": "3D tisk", "attempts": 1, "last_failed_at": finished.isoformat()}]
            }
        },
    )
    with sender(in_process) as fabman:
        jan = refused(simulator, fabman, JAN, LASER_CUTTER)  # Jan used all three laser attempts
        petra = refused(simulator, fabman, PETRA, PRUSA)  # Petra waits a day after failing the 3D printing quiz
        fabman.deliver()
        [to_jan] = mail_to(smtp, JAN_MAIL, SUBJECT)
        [to_petra] = mail_to(smtp, PETRA_MAIL, SUBJECT)
        assert handled(store, jan.id).outcome == handled(store, petra.id).outcome == "mailed"

    codec = CmUserIdCodec([env["FERNET_KEY"]])
    assert quiz_links(codec, to_jan) == [] and "You have used up all attempts" in text_of(to_jan)
    assert "staff@fablab.example" in text_of(to_jan) and "Vyčerpali jste všechny pokusy" in text_of(to_jan)
    opens = finished + dt.timedelta(hours=24)
    assert quiz_links(codec, to_petra) == [] and f"your next attempt opens on {english_moment(opens)}" in text_of(to_petra)


def test_no_mail_when_nothing_online_can_be_offered_and_other_events_are_stored_and_ignored(
    in_process: Flask, simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    with sender(in_process) as fabman:
        holds_it = refused(simulator, fabman, ZUZANA, LASER_CUTTER)  # she holds the laser training
        in_person = refused(simulator, fabman, PETRA, BENCH_LATHE)  # the lathe's course is presence-only
        test = fabman.record_test_event()
        unknown = fabman.record_event("member_updated", {"member": {"id": PETRA}})
        allowed = fabman.record_resource_log_created(simulator.state, simulator.state.add_resource_log(PETRA, PRUSA, "allowed"))
        other_reason = fabman.record_resource_log_created(
            simulator.state, simulator.state.add_resource_log(PETRA, PRUSA, "denied", "openingHours")
        )
        answers = {d.event_id: d for d in fabman.deliver()}

        assert all(d.status == 200 for d in answers.values())
        assert '"status":"ok"' in answers[test.id].body
        for ignored in (unknown, other_reason):
            assert '"status":"ignored"' in answers[ignored.id].body
            row = store.rules.fabman_event(str(ignored.id))
            assert row is not None and row.status == "ignored"
        assert store.rules.fabman_event(str(test.id)).outcome == "test"  # type: ignore[union-attr]
        assert handled(store, holds_it.id).outcome == "already_trained"
        assert handled(store, in_person.id).outcome == "no_online_course"
        assert handled(store, allowed.id).outcome == "no_renewing_course"  # a use renews only courses that live on use
    assert smtp.messages == []


def test_late_and_out_of_order_events_are_each_handled_once(
    in_process: Flask, simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    with sender(in_process) as fabman:
        hours_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        late = refused(simulator, fabman, PETRA, PRUSA, created_at=hours_ago)
        newer = refused(simulator, fabman, PETRA, LASER_CUTTER)
        fabman.deliver(newer, late)
        fabman.deliver(late, newer)
        assert handled(store, late.id).outcome == handled(store, newer.id).outcome == "mailed"
        mails = mail_to(smtp, PETRA_MAIL, SUBJECT, count=2)
    assert sorted(str(m["Subject"]) for m in mails) == [
        "Školení k zařízení 3D tiskárna Prusa / Training for 3D tiskárna Prusa",
        "Školení k zařízení Laserová řezačka / Training for Laserová řezačka",
    ]
    assert store.rules.fabman_event(str(late.id)).occurred_at == dt.datetime.fromisoformat(hours_ago)  # type: ignore[union-attr]


@pytest.mark.parametrize("token", [None, "wrong-token", FABMAN_WEBHOOK_TOKEN + "x", ""])
def test_a_missing_or_wrong_token_is_401_and_nothing_is_stored(
    token: str | None, in_process: Flask, simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    with sender(in_process, token) as fabman:
        event = refused(simulator, fabman, PETRA, LASER_CUTTER)
        [delivery] = fabman.deliver(event)
    assert delivery.status == 401 and '"status":401' in delivery.body
    assert store.rules.fabman_event(str(event.id)) is None and store.database.table_counts()["outbox_messages"] == 0
    assert fabman.pending == [event]  # Fabman keeps it to send again
    assert smtp.messages == []


def test_without_a_configured_token_the_webhook_answers_503_and_stores_nothing(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, store: Store
) -> None:
    with sender(make_app(FABMAN_WEBHOOK_TOKEN=None)) as fabman:
        event = refused(simulator, fabman, PETRA, LASER_CUTTER)
        [delivery] = fabman.deliver(event)
    assert delivery.status == 503 and "FABMAN_WEBHOOK_TOKEN" in delivery.body
    assert store.rules.fabman_event(str(event.id)) is None


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"type": "test"}', b'{"id": 7}'])
def test_a_body_that_is_not_an_event_is_400_and_not_stored(body: bytes, make_app: Callable[..., Flask], store: Store) -> None:
    client = make_app().test_client()
    answer = client.post(f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}", data=body, content_type="application/json")
    problem(answer, 400)
    assert store.rules.fabman_event("7") is None


def test_one_mail_per_member_and_machine_in_seven_days(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, clock: SettableClock, store: Store
) -> None:
    client = make_app(clock=clock).test_client()

    def refused_now(member_id: int, resource_id: int, key: int) -> str | None:
        entry = simulator.state.add_resource_log(member_id, resource_id)
        details = {"log": entry, "resource": simulator.state.resource(resource_id), "member": simulator.state.member(member_id)}
        event = {"id": key, "type": "resourceLog_created", "createdAt": entry["createdAt"], "details": details}
        assert client.post(f"/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}", json=event).json["status"] == "stored"
        return handled(store, key).outcome  # type: ignore[no-any-return]

    assert refused_now(PETRA, LASER_CUTTER, 9001) == "mailed"
    assert refused_now(PETRA, PRUSA, 9002) == "mailed"  # another machine: its own mail
    assert refused_now(LUCIE, LASER_CUTTER, 9003) == "mailed"  # another member
    clock.advance(days=6, hours=23)
    assert refused_now(PETRA, LASER_CUTTER, 9004) == "mailed_recently"
    clock.advance(hours=1, seconds=1)
    assert refused_now(PETRA, LASER_CUTTER, 9005) == "mailed"
    assert refused_now(PETRA, LASER_CUTTER, 9006) == "mailed_recently"

    laser_mails = mails_with(smtp, PETRA_MAIL, "Training for Laserová řezačka")
    assert len(laser_mails) == 2 and len(mails_with(smtp, PETRA_MAIL, "Training for 3D tiskárna Prusa")) == 1
