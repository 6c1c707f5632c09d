"""Helpers of the training-rules tests (contract sections 12 and 13).

The bridge under test (gunicorn, harness.launch, or the app in this process
reached over `requests`: :class:`InProcessBridge`) talks to the test's Fabman
simulator and mailbox and keeps its store at the test's DATABASE_URL, which
the tests open too, to look at the rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.store import InboxEvent, Store
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import GunicornBridge, SmtpSink
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.in_process import WsgiAdapter
from tests.support import text_of

PRAGUE = ZoneInfo("Europe/Prague")
STAFF = "staff@fablab.example"
QUIZ_LINK = re.compile(r"https://www\.classmarker\.com/online-test/start/\?quiz=\w+&cm_user_id=(\S+)")


class InProcessBridge:
    """An app in this process, called with `requests` as a served bridge is: its own session, answered by the app."""

    url = "http://bridge.in-process"
    """Where its session sends requests to the app; nothing listens there."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.session = requests.Session()
        self.session.mount(self.url + "/", WsgiAdapter(app))


Served = GunicornBridge | InProcessBridge
"""A bridge the helpers call over HTTP: gunicorn, or an app in this process."""


def session_of(bridge: Served) -> requests.Session:
    """What calls the bridge: the in-process one's own session, or a plain one for gunicorn."""
    return bridge.session if isinstance(bridge, InProcessBridge) else requests.Session()


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Store]:
    """The store the bridge under test uses, opened by the test to look at its rows."""
    store = Store(env["DATABASE_URL"])
    store.migrate()
    yield store
    store.dispose()


def whole_minutes_ago(minutes: float) -> dt.datetime:
    """A moment in the past, on a whole minute (so mail, which shows minutes, names it exactly)."""
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    return moment.replace(second=0, microsecond=0)


def deliver(
    bridge: Served,
    env: dict[str, str],
    member_id: int,
    course_id: int,
    result_id: int,
    *,
    passed: bool,
    started: dt.datetime,
    finished: dt.datetime | None = None,
    quiz: str | None = None,
) -> dict[str, Any]:
    """POST a signed ClassMarker result with the given times, taken through the course's quiz; the webhook's answer.

    `quiz` names the quiz of a course the test made itself (the demo courses' are known).
    """
    token = CmUserIdCodec([env["FERNET_KEY"]]).encode(member_id, course_id)
    payload = result_payload(
        token, result_id=result_id, passed=passed, percentage=90 if passed else 40, quiz=quiz or quiz_of(course_id)
    )
    payload["result"]["time_started"] = int(started.timestamp())
    payload["result"]["time_finished"] = int((finished or started + dt.timedelta(minutes=7)).timestamp())
    body, headers = signed(payload)
    response = session_of(bridge).post(bridge.url + "/add_classmarker_training", data=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def settled(store: Store, event_id: int, *, timeout: float = 30) -> InboxEvent:
    """The event once it left the queue (applied, rejected, error or dead)."""

    def done() -> InboxEvent | None:
        event = store.inbox.get(event_id)
        return event if event is not None and event.status not in ("queued", "awaiting_grading") else None

    return wait_until(done, timeout=timeout, what=f"event {event_id} to be applied")


def mail_to(smtp: SmtpSink, address: str, subject: str, *, count: int = 1, timeout: float = 20) -> list[EmailMessage]:
    """Wait until `count` mails to `address` whose subject contains `subject` arrived; all of them."""

    def arrived() -> list[EmailMessage] | None:
        found = [m for m in smtp.to(address) if subject in str(m["Subject"])]
        return found if len(found) >= count else None

    return wait_until(arrived, timeout=timeout, what=f"{count} mail(s) '{subject}' to {address}")


def mails_with(smtp: SmtpSink, address: str, subject: str) -> list[EmailMessage]:
    """The mails to `address` whose subject contains `subject`, now."""
    return [m for m in smtp.to(address) if subject in str(m["Subject"])]


def quiz_links(codec: CmUserIdCodec, message: EmailMessage) -> list[tuple[int, int]]:
    """(member, course) of every personal quiz link in a mail's text."""
    found = []
    for token in QUIZ_LINK.findall(text_of(message)):
        identity = codec.decode(unquote(token))
        found.append((identity.member_id, identity.course_id))
    return found


def czech_moment(moment: dt.datetime) -> str:
    local = moment.astimezone(PRAGUE)
    return f"{local.day}. {local.month}. {local.year} v {local:%H:%M}"


def english_moment(moment: dt.datetime) -> str:
    local = moment.astimezone(PRAGUE)
    return f"{local.day} {local:%b} {local.year} at {local:%H:%M}"


def set_metadata(simulator: FabmanSimulator, member_id: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Change a member's metadata in Fabman as staff would (lockVersion respected)."""
    member = simulator.state.member(member_id)
    simulator.state.update_member(member_id, {"metadata": change(member.get("metadata") or {})}, member["lockVersion"])


def failed_courses(simulator: FabmanSimulator, member_id: int) -> list[dict[str, Any]]:
    metadata = simulator.state.member(member_id).get("metadata") or {}
    entries: list[dict[str, Any]] = (metadata.get("courses_cm") or {}).get("failed_courses", [])
    return entries


def api(bridge: Served, simulator: FabmanSimulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A call as the FabLab web (or staff) makes it, with the Fabman API key."""
    headers = {"Authorization": simulator.api_key}
    return session_of(bridge).request(method, bridge.url + path, headers=headers, timeout=15, **kwargs)
