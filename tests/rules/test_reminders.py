"""Contract section 12, combined reminders: one mail a day per member, each record reminded once per date.

Through gunicorn for the sweep as deployed; in process with a settable clock
for "the next day".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.store import Store
from bridge.clock import SettableClock
from bridge.domain.calendar import today_in
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel
from harness import CRON_TOKEN
from harness.launch import GunicornBridge, SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.rules.conftest import PRAGUE, mails_with, quiz_links
from tests.support import text_of

SAFETY, VINYL, LATHE, LASER, CNC, PRINTER = 1, 5, 7, 2, 4, 3
ONDREJ, ZUZANA, LUKAS, DANIEL = 9, 10, 11, 13
ONDREJ_MAIL, LUKAS_MAIL, DANIEL_MAIL = "ondrej.horak@example.org", "lukas.marek@example.org", "daniel.smith@example.org"
SOON = "expire"  # "Training expires soon" (one) and "Trainings expire soon" (several)


def day(offset: int) -> str:
    return (today_in(PRAGUE) + dt.timedelta(days=offset)).isoformat()


def record_of(simulator: FabmanSimulator, member_id: int, course_id: int) -> dict[str, Any]:
    [record] = [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == course_id]
    return record


def remind_the_old_way(store: Store, member_id: int, record: dict[str, Any]) -> None:
    """A reminder as earlier versions sent it: one mail per record, keyed `reminder:{member}:{record}:{untilDate}`."""
    key = f"reminder:{member_id}:{record['id']}:{record['untilDate']}"
    store.outbox.queue([OutgoingMessage(key, Channel.MAIL, "old@example.org", "old reminder", "old reminder", None, member_id)])
    [message] = [m for m in store.outbox.messages() if m.dedupe_key == key]
    store.outbox.mark_sent(message.id)


def sweep(url: str) -> dict[str, Any]:
    response = requests.post(url + "/cron/expire_trainings", headers={"CronjobToken": CRON_TOKEN}, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def reminders_to(smtp: SmtpSink, address: str) -> list[Any]:
    return [m for m in mails_with(smtp, address, "") if "brzy skončí" in str(m["Subject"])]


@pytest.mark.e2e
def test_one_mail_lists_every_training_entering_the_window_and_no_record_is_reminded_twice(
    env: dict[str, str], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    codec = CmUserIdCodec([env["FERNET_KEY"]])
    simulator.state.add_training(ONDREJ, LATHE, day(-360), day(5))  # presence-only, also in the window
    simulator.state.add_training(DANIEL, LASER, day(-362), day(3))
    simulator.state.add_training(DANIEL, VINYL, day(-170), day(10))
    remind_the_old_way(store, LUKAS, record_of(simulator, LUKAS, CNC))  # his only training in the window
    remind_the_old_way(store, DANIEL, record_of(simulator, DANIEL, LASER))
    keys_before = {m.dedupe_key for m in store.outbox.messages()}

    with GunicornBridge(env, workers=2, threads=4) as bridge:
        first = sweep(bridge.url)
        second = sweep(bridge.url)

    today = today_in(PRAGUE)
    # Ondřej: one mail with all three, soonest first, each with its date; quiz links for the online ones.
    [ondrej] = reminders_to(smtp, ONDREJ_MAIL)
    assert str(ondrej["Subject"]) == (
        "Platnost školení brzy skončí: Bezpečnost v dílně, Stolní soustruh, Vinylový řezací plotr"
        " / Trainings expire soon: Workshop safety, Bench lathe, Vinyl cutter"
    )
    text = text_of(ondrej)
    for czech, english, offset in (
        ("Bezpečnost v dílně", "Workshop safety", 1),
        ("Stolní soustruh", "Bench lathe", 5),
        ("Vinylový řezací plotr", "Vinyl cutter", 7),
    ):
        until = today + dt.timedelta(days=offset)
        assert f"„{czech}“ skončí {until.day}. {until.month}. {until.year}" in text
        assert f'"{english}" expires on {until.day} {until:%b} {until.year}' in text
    assert sorted(set(quiz_links(codec, ondrej))) == [(ONDREJ, SAFETY), (ONDREJ, VINYL)]
    assert "Toto školení se obnovuje prezenčně" in text and "This training is renewed in person" in text
    assert ondrej.get_body(preferencelist=("html",)) is not None

    # Lukáš's only record in the window was reminded the old way: no reminder (his expiry mail still goes).
    assert reminders_to(smtp, LUKAS_MAIL) == []
    assert [str(m["Subject"]) for m in mails_with(smtp, LUKAS_MAIL, "Training expired")] == [
        "Platnost školení skončila: Pájení / Training expired: Soldering"
    ]
    # Daniel: the laser record was reminded the old way; his mail lists the vinyl cutter alone.
    [daniel] = reminders_to(smtp, DANIEL_MAIL)
    assert str(daniel["Subject"]) == "Platnost školení brzy skončí: Vinylový řezací plotr / Training expires soon: Vinyl cutter"
    assert "Laser" not in text_of(daniel) and set(quiz_links(codec, daniel)) == {(DANIEL, VINYL)}

    # The second sweep the same day sends nothing: no new mail, no new outbox row.
    assert first["reminders_queued"] == len([m for m in smtp.messages if "brzy skončí" in str(m["Subject"])]) >= 3
    assert second["reminders_queued"] == 0 and second["mails_queued"] == 0
    new_keys = {m.dedupe_key for m in store.outbox.messages()} - keys_before
    reminder_keys = sorted(key for key in new_keys if key.startswith("reminder"))
    assert (
        f"reminders:{ONDREJ}:{today.isoformat()}" in reminder_keys and f"reminders:{DANIEL}:{today.isoformat()}" in reminder_keys
    )
    assert all(key.startswith("reminders:") for key in reminder_keys)  # no per-record reminder is queued any more
    marks = [(ONDREJ, r["id"], dt.date.fromisoformat(r["untilDate"])) for r in simulator.state.trainings_of(ONDREJ)]
    assert len(store.rules.reminded(marks)) == 3


def test_the_next_day_lists_only_records_not_reminded_for_their_date(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, clock: SettableClock
) -> None:
    client = make_app(clock=clock).test_client()
    cron = {"CronjobToken": CRON_TOKEN}
    assert client.post("/cron/expire_trainings", headers=cron).status_code == 200
    [first] = reminders_to(smtp, ONDREJ_MAIL)
    assert "Workshop safety" in str(first["Subject"]) and "Vinyl cutter" in str(first["Subject"])

    # A new training enters the window; the next day's mail lists it alone (the vinyl cutter was reminded already).
    simulator.state.add_training(ONDREJ, CNC, day(-355), day(10))
    clock.advance(days=1)
    answer = client.post("/cron/expire_trainings", headers=cron).json
    assert answer["reminders_queued"] >= 1
    second = reminders_to(smtp, ONDREJ_MAIL)[-1]
    assert len(reminders_to(smtp, ONDREJ_MAIL)) == 2
    assert str(second["Subject"]) == "Platnost školení brzy skončí: CNC frézka / Training expires soon: CNC milling machine"
    assert "Vinyl" not in text_of(second)

    # Safety expired overnight: it is announced as expired, never reminded again.
    assert [str(m["Subject"]) for m in mails_with(smtp, ONDREJ_MAIL, "Training expired")] == [
        "Platnost školení skončila: Bezpečnost v dílně / Training expired: Workshop safety"
    ]
    assert client.post("/cron/expire_trainings", headers=cron).json["reminders_queued"] == 0
    assert len(reminders_to(smtp, ONDREJ_MAIL)) == 2
