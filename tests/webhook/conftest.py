"""Fixtures and helpers for the webhook tests: a Discord sink, signed deliveries, store snapshots.

The tests drive the bridge through its test client against the Fabman
simulator and a mailbox, in process unless a test is marked `e2e` (then the
simulator, the SMTP sink and the Discord sink are real servers on loopback).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request

from bridge.adapters.mail.transports import DiscordTransport
from bridge.adapters.store import Store
from bridge.adapters.store.models import InboxEvent
from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from bridge.domain.statuses import Channel
from harness.classmarker import signed
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.in_process import WsgiAdapter
from tests.support import is_e2e

PRAGUE = ZoneInfo("Europe/Prague")
STAFF = "staff@fablab.example"
WEBHOOK = "/add_classmarker_training"


class DiscordSink:
    """A stand-in for Discord's incoming-webhook endpoint on loopback: keeps every POSTed JSON."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 204
        self.adapter: WsgiAdapter | None = None
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sink.posts.append(json.loads(self.rfile.read(length) or b"null"))
                self.send_response(sink.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/123/discord-secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def contents(self) -> list[str]:
        return [str(post.get("content")) for post in self.posts]


class InProcessDiscordSink(DiscordSink):
    """The same endpoint as a WSGI app, reached through an adapter mounted on the bridge's Discord session."""

    def __init__(self) -> None:  # no server: the sink's state, and an adapter for its URL
        self.posts = []
        self.status = 204
        self.url = "http://discord.in-process/api/webhooks/123/discord-secret-token"
        self.adapter = WsgiAdapter(self._wsgi)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = Request(environ)
        self.posts.append(json.loads(request.get_data() or b"null"))
        start_response(f"{self.status} ANSWER", [])
        return []


@pytest.fixture
def discord(request: pytest.FixtureRequest) -> Iterator[DiscordSink]:
    """Discord's endpoint: in process, or on loopback for an e2e test."""
    if not is_e2e(request):
        yield InProcessDiscordSink()
        return
    sink = DiscordSink()
    sink.thread.start()
    yield sink
    sink.server.shutdown()
    sink.server.server_close()


@pytest.fixture
def app(make_app: Callable[..., Flask], discord: DiscordSink, clock: SettableClock) -> Flask:
    """The bridge with staff alerts going to the support address and to the Discord sink; Fabman's timeout is 1 s."""
    app = make_app(clock=clock, DISCORD_WEBHOOK_URL=discord.url, FABMAN_TIMEOUT_SECONDS="1")
    if discord.adapter is not None:
        transport = bridge_of(app).outbox.transports[Channel.DISCORD]
        assert isinstance(transport, DiscordTransport)
        transport.http.mount("http://discord.in-process/", discord.adapter)
    return app


def deliver(client: FlaskClient, payload: dict[str, Any] | bytes, **headers: str) -> TestResponse:
    """POST a result as ClassMarker does (signed raw bytes)."""
    body, signed_headers = signed(payload)
    return client.post(WEBHOOK, data=body, headers={**signed_headers, **headers})


def token(bridge: Bridge, member_id: int, course_id: int) -> str:
    """The cm_user_id the bridge put in the member's quiz link."""
    return bridge.codec.encode(member_id, course_id)


def table_counts(store: Store) -> dict[str, int]:
    """Rows in each of the bridge's tables."""
    return store.database.table_counts()


def writes(simulator: FabmanSimulator) -> list[tuple[str, str, int]]:
    """Every request that could change Fabman (POST/PUT/DELETE), as (method, path, status)."""
    return [(r.method, r.path, r.status) for r in simulator.requests if r.method != "GET"]


def settled(bridge: Bridge, response: TestResponse) -> InboxEvent:
    """What became of a delivered result, as the store tells it.

    The webhook answers once the result is stored (`accepted`); applying runs
    right after on the app's pool, which the test client waits for.
    """
    assert response.status_code == 200 and response.json["status"] == "accepted", response.json
    event = bridge.store.inbox.get(response.json["event_id"])
    assert event is not None
    return event


def only_event(store: Store) -> InboxEvent:
    events = store.inbox.events()
    assert len(events) == 1, [e.status for e in events]
    return events[0]


def today() -> dt.date:
    return dt.datetime.now(PRAGUE).date()


def years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def course_records(simulator: FabmanSimulator, member_id: int, course_id: int) -> list[dict[str, Any]]:
    return [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == course_id]


def failed_courses(simulator: FabmanSimulator, member_id: int) -> list[dict[str, Any]]:
    metadata = simulator.state.member(member_id)["metadata"] or {}
    return list((metadata.get("courses_cm") or {}).get("failed_courses") or [])


def set_failed(simulator: FabmanSimulator, member_id: int, course_id: int, attempts: int) -> None:
    """Staff recorded earlier failed attempts in Fabman."""
    member = simulator.state.member(member_id)
    title = simulator.state.course(course_id)["title"]
    metadata = dict(member["metadata"] or {})
    metadata["courses_cm"] = {"failed_courses": [{"id": course_id, "title": title, "attempts": attempts}]}
    simulator.state.update_member(member_id, {"metadata": metadata}, member["lockVersion"])
