"""The issue's three situations, small: webhooks lost, every webhook refused, webhook and poll at once on two instances.

ClassMarker's webhook sender and its results API serve the same account, so
what the webhook loses the API still lists; every count is taken from the
world (Fabman's records, the mailbox, the store).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from harness.classmarker import quiz_of
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerWebhookSender, SimResult
from tests.reconcile.conftest import PETRA, STAFF, WEBHOOK, ServedBridge, course_records

pytestmark = pytest.mark.e2e

SOLDERING = 6
CROWD = range(14, 26)


def take_quizzes(account: ClassMarkerAccount, bridge: Bridge, clock: SettableClock, members: range = CROWD) -> list[SimResult]:
    """Members pass the soldering quiz, a minute apart, in the last half hour."""
    start = clock.now() - dt.timedelta(minutes=30)
    return [
        account.take_quiz(
            bridge.codec.encode(member, SOLDERING), quiz=quiz_of(SOLDERING), finished_at=start + dt.timedelta(minutes=minute)
        )
        for minute, member in enumerate(members)
    ]


def applied_once(simulator: FabmanSimulator, bridge: Bridge, taken: list[SimResult]) -> None:
    """Each result is one applied event, and the member's only soldering record names it."""
    events = {e.result_key: e for e in bridge.store.inbox.events(limit=500)}
    assert sorted(events) == sorted(str(r.link_result_id) for r in taken)
    assert {e.status for e in events.values()} == {"applied"}
    for member, result in zip(CROWD, taken, strict=True):
        [record] = course_records(simulator, member, SOLDERING)
        assert f"ClassMarker result #{result.link_result_id}." in str(record["notes"])
    assert len(bridge.store.ledger.entries()) == len(taken)


def test_webhooks_lost_and_the_bridge_down_a_while_every_result_is_applied_once(
    account: ClassMarkerAccount,
    served: ServedBridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    bridge = served.bridge
    taken = take_quizzes(account, bridge, clock)
    with ClassMarkerWebhookSender(account, served.url + WEBHOOK, loss_rate=0.3, seed=3) as sender:
        early = sender.deliver(*[r.link_result_id for r in taken[:8]])
        served.settle()
        served.server.shutdown()  # the bridge goes down; ClassMarker retries, then gives up
        late = sender.deliver()
        gave_up = sender.give_up()

    lost = sender.lost
    assert [d.result_id for d in early if d.lost] and gave_up and len(lost) < len(taken)
    assert {d.status for d in late if not d.lost} == {None}
    client = served.app.test_client()
    summary = client.post("/cron/reconcile", headers=cron_headers).json

    assert (summary["new"], summary["applied"], summary["gap"]) == (len(lost), len(lost), len(lost))
    applied_once(simulator, bridge, taken)
    assert sorted(e.result_key for e in bridge.store.inbox.events(limit=500) if e.source == "poll") == sorted(map(str, lost))
    members = [str(simulator.state.member(m)["emailAddress"]) for m in CROWD]
    assert [len(smtp.to(address)) for address in members] == [1] * len(CROWD)


def test_every_delivery_signed_with_a_wrong_secret_polling_applies_all_and_staff_hear_once(
    account: ClassMarkerAccount,
    served: ServedBridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    bridge = served.bridge
    client = served.app.test_client()
    with ClassMarkerWebhookSender(account, served.url + WEBHOOK, wrong_secret=True) as sender:
        taken = take_quizzes(account, bridge, clock, CROWD[:6])
        refused = sender.deliver()
        first = client.post("/cron/reconcile", headers=cron_headers).json
        clock.advance(minutes=15)
        taken += take_quizzes(account, bridge, clock, CROWD[6:])
        refused += sender.deliver()
        second = client.post("/cron/reconcile", headers=cron_headers).json

    assert {d.status for d in refused} == {401} and len(refused) == 6 + 12  # ClassMarker retries the first six
    assert (first["new"], second["new"]) == (6, 6)
    applied_once(simulator, bridge, taken)
    alerts = [str(m["Subject"]) for m in smtp.to(STAFF)]
    assert len(alerts) == 1 and "webhook is probably misconfigured" in alerts[0]


def test_webhook_and_poll_of_the_same_result_at_once_on_two_instances_apply_it_once(
    reconciling: Callable[..., Flask],
    account: ClassMarkerAccount,
    served: ServedBridge,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    """The served bridge takes the webhook while a second instance on the same store polls, released together."""
    other = reconciling(clock)
    results = [account.take_quiz(served.bridge.codec.encode(PETRA, SOLDERING), quiz=quiz_of(SOLDERING))]
    start = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def webhook() -> None:
        with ClassMarkerWebhookSender(account, served.url + WEBHOOK) as sender:
            start.wait(timeout=10)
            answers["webhook"] = sender.deliver()

    def poll() -> None:
        client = other.test_client()
        start.wait(timeout=10)
        answers["poll"] = client.post("/cron/reconcile", headers=cron_headers).json

    threads = [threading.Thread(target=webhook), threading.Thread(target=poll)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    served.settle()

    [delivery] = answers["webhook"]
    assert delivery.status == 200 and answers["poll"]["seen"] == 1
    events = bridge_of(other).store.inbox.events()
    assert [(e.result_key, e.status) for e in events] == [(str(results[0].link_result_id), "applied")]
    assert answers["poll"]["new"] == (1 if events[0].source == "poll" else 0)
    [record] = course_records(simulator, PETRA, SOLDERING)
    assert f"ClassMarker result #{results[0].link_result_id}." in str(record["notes"])
    assert len(smtp.to(str(simulator.state.member(PETRA)["emailAddress"]))) == 1
