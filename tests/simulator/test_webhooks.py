"""The simulator sends Fabman's webhooks the way the Fabman notes say: 2xx only, re-sent, late, out of order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.simulator import FabmanWebhookSender, demo_state

pytestmark = pytest.mark.e2e

TODAY = date(2025, 3, 15)
TOKEN = "receiver-secret-token"
PETRA = 1
LASER_CUTTER = 1


class Receiver:
    """A webhook endpoint on loopback: keeps every POST, answers the statuses queued in `answers` (then 200)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.posts.append(
                    {
                        "query": parse_qs(urlsplit(self.path).query),
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                text = f"answered {status}".encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fabman/events?token={TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [post["body"] for post in self.posts]


class Clock:
    """A settable "now" for the sender."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    sink = Receiver()
    sink.thread.start()
    yield sink
    sink.server.shutdown()
    sink.server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 15, 9, 30, tzinfo=UTC))


@pytest.fixture
def sender(receiver: Receiver, clock: Clock) -> Iterator[FabmanWebhookSender]:
    with FabmanWebhookSender(receiver.url, clock=clock) as webhook:
        yield webhook


def test_the_test_event_arrives_as_fabman_posts_it(receiver: Receiver, sender: FabmanWebhookSender) -> None:
    event = sender.record_test_event()
    assert receiver.posts == []

    [delivery] = sender.deliver()

    [post] = receiver.posts
    assert post["body"] == {"id": event.id, "type": "test", "createdAt": "2025-03-15T09:30:00.000Z", "details": {}}
    assert post["query"] == {"token": [TOKEN]}
    assert post["content_type"] == "application/json"
    assert (delivery.event_id, delivery.status, delivery.body, delivery.delivered) == (event.id, 200, "answered 200", True)
    assert sender.pending == []
    assert sender.deliveries == [delivery]


def test_petra_refused_at_the_laser_cutter_becomes_resource_log_created(receiver: Receiver, sender: FabmanWebhookSender) -> None:
    state = demo_state(TODAY)
    entry = state.add_resource_log(PETRA, LASER_CUTTER, created_at="2025-03-15T08:12:45.120Z")

    event = sender.record_resource_log_created(state, entry)
    sender.deliver()

    [body] = receiver.bodies
    assert (body["id"], body["type"], body["createdAt"]) == (event.id, "resourceLog_created", "2025-03-15T08:12:45.120Z")
    log = body["details"]["log"]
    assert (log["type"], log["reason"], log["member"], log["resource"]) == ("denied", "noPermission", PETRA, LASER_CUTTER)
    assert body["details"]["resource"] == state.resource(LASER_CUTTER)
    assert body["details"]["member"] == state.member(PETRA)
    assert body["details"]["member"]["firstName"] == "Petra"


def test_an_attempt_by_no_known_member_has_a_null_member(receiver: Receiver, sender: FabmanWebhookSender) -> None:
    state = demo_state(TODAY)

    sender.record_resource_log_created(state, state.add_resource_log(None, LASER_CUTTER, reason="memberInactive"))
    sender.deliver()

    [body] = receiver.bodies
    assert body["details"]["member"] is None
    assert body["details"]["log"]["reason"] == "memberInactive"


def test_an_event_can_be_resent_with_the_same_id(receiver: Receiver, sender: FabmanWebhookSender) -> None:
    event = sender.record_event("member_updated", {"member": {"id": PETRA}})

    deliveries = sender.deliver(event, times=3)
    again = sender.deliver(event)

    assert [delivery.status for delivery in deliveries + again] == [200, 200, 200, 200]
    assert receiver.bodies == [event.as_json()] * 4


def test_late_events_keep_the_time_they_happened_and_arrive_in_the_order_chosen(
    receiver: Receiver, sender: FabmanWebhookSender, clock: Clock
) -> None:
    first = sender.record_event("memberTraining_created", {"memberTraining": {"id": 7}, "member": {"id": PETRA}})
    clock.now += timedelta(minutes=5)
    second = sender.record_event("memberTraining_deleted", {"memberTraining": {"id": 7}, "member": {"id": PETRA}})
    clock.now += timedelta(hours=6)

    sender.deliver(second, first)

    assert [(body["id"], body["createdAt"]) for body in receiver.bodies] == [
        (second.id, "2025-03-15T09:35:00.000Z"),
        (first.id, "2025-03-15T09:30:00.000Z"),
    ]
    assert sender.pending == []


def test_only_a_2xx_counts_and_undelivered_events_stay_queued(receiver: Receiver, sender: FabmanWebhookSender) -> None:
    receiver.answers = [500, 302, 404, 204]
    refused = sender.record_event("member_updated", {"member": {"id": PETRA}})
    accepted = sender.record_test_event()

    first_round = sender.deliver()
    assert [(d.event_id, d.status, d.delivered) for d in first_round] == [(refused.id, 500, False), (accepted.id, 302, False)]
    assert sender.pending == [refused, accepted]

    second_round = sender.deliver()
    third_round = sender.deliver()

    assert [(d.event_id, d.status, d.delivered) for d in second_round + third_round] == [
        (refused.id, 404, False),
        (accepted.id, 204, True),
        (refused.id, 200, True),
    ]
    assert sender.pending == []
    assert [body["id"] for body in receiver.bodies] == [refused.id, accepted.id, refused.id, accepted.id, refused.id]
    assert [d.status for d in sender.deliveries] == [500, 302, 404, 204, 200]


def test_no_answer_is_recorded_without_the_secret_url(receiver: Receiver, clock: Clock) -> None:
    receiver.server.shutdown()
    receiver.server.server_close()

    with FabmanWebhookSender(receiver.url, clock=clock, timeout=2) as sender:
        event = sender.record_test_event()
        [delivery] = sender.deliver()

        assert (delivery.event_id, delivery.status, delivery.delivered) == (event.id, None, False)
        assert delivery.error == "ConnectionError"
        assert TOKEN not in repr(delivery)
        assert sender.pending == [event]


def test_two_senders_never_share_an_event_id(receiver: Receiver, clock: Clock) -> None:
    with FabmanWebhookSender(receiver.url, clock=clock) as one, FabmanWebhookSender(receiver.url, clock=clock) as other:
        ids = {one.record_test_event().id, other.record_test_event().id, one.record_test_event().id}

    assert len(ids) == 3


def test_times_must_be_at_least_one(sender: FabmanWebhookSender) -> None:
    event = sender.record_test_event()

    with pytest.raises(ValueError, match="times"):
        sender.deliver(event, times=0)

    assert sender.deliveries == []
