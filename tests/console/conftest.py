"""Staff console fixtures: a bridge with staff configured, signing in as staff do, from the mail, and a morning.

The morning at the FabLab (`morning`, and `staff` signed in after it): a
result that died while Fabman was down two days ago, then today a pass, a
fail and a forged link.

Every test here talks to the Fabman simulator and the SMTP sink (real
servers on loopback), so every module here is marked `e2e`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge.application import Bridge
from bridge.clock import SettableClock
from harness import CRON_TOKEN
from harness.classmarker import LASER_QUIZ, quiz_of, result_payload, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.support import text_of

OWNER = "tomas.prochazka@example.org"
"""Tomáš Procházka, the sample FabLab's owner in Fabman."""
ADMIN = "lucie.cerna@example.org"
"""Lucie Černá, an admin in Fabman."""
MEMBER = "petra.dvorakova@example.org"
"""Petra Dvořáková, an ordinary member: not staff."""
LISTED = "lead@fablab.example"
"""Not in Fabman, but in STAFF_EMAILS."""
STAFF_EMAILS = f"{LISTED}, Second@FabLab.example"

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"https?://\S+/staff/link\?token=[A-Za-z0-9_-]+")


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: SettableClock) -> Flask:
    return make_app(clock=clock, STAFF_EMAILS=STAFF_EMAILS)


def csrf_token(page: TestResponse | str) -> str:
    """The CSRF token of the first form on a page."""
    html = page if isinstance(page, str) else page.get_data(as_text=True)
    found = CSRF_FIELD.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def ask_for_link(client: FlaskClient, email: str, *, remote: str = "127.0.0.1", **form: str) -> TestResponse:
    """Fill in and send the sign-in form as a browser at `remote` would (its CSRF token included)."""
    token = csrf_token(client.get("/staff/login"))
    return client.post("/staff/login", data={"email": email, "csrf_token": token, **form}, environ_base={"REMOTE_ADDR": remote})


def links_in(messages: list[EmailMessage]) -> list[str]:
    """The sign-in link of each mail (its Czech and English parts carry the same one)."""
    return [link for message in messages for link in dict.fromkeys(LINK.findall(text_of(message)))]


def link_path(link: str) -> str:
    """The path of a sign-in link (the test client talks to the app directly)."""
    return "/staff/" + link.split("/staff/", 1)[1]


def sign_in(client: FlaskClient, smtp: SmtpSink, email: str = OWNER, **form: str) -> TestResponse:
    """Sign in as staff do: ask for a link, take it from the mail, follow it."""
    address = email.strip().lower()
    before = len(links_in(smtp.to(address)))
    asked = ask_for_link(client, email, **form)
    assert asked.status_code == 303, asked.get_data(as_text=True)
    links = links_in(smtp.to(address))
    assert len(links) == before + 1, f"no new sign-in link mailed to {address}"
    return client.get(link_path(links[-1]))


def form_post(client: FlaskClient, page_path: str, action: str, **fields: Any) -> TestResponse:
    """Submit a form of a page with that page's CSRF token."""
    token = csrf_token(client.get(page_path))
    return client.post(action, data={"csrf_token": token, **fields})


def staff_log(bridge: Bridge) -> list[tuple[str, str, str | None]]:
    """The staff log as (who, what, target), oldest first."""
    rows, _ = bridge.store.console.staff_actions(limit=1000)
    return [(row.staff, row.action, row.target) for row in reversed(rows)]


# -- a morning at the FabLab ---------------------------------------------------------------------

PETRA, JAN, MARTIN, ONDREJ, LUKAS = 1, 2, 5, 9, 11
LASER, CNC, SOLDERING, PLOTTER = 2, 4, 6, 5


@dataclass
class Morning:
    """What happened before staff looked: event ids and the cm_user_ids the results carried."""

    dead: int
    granted: int
    failed: int
    rejected: int
    tokens: list[str]


def deliver(client: FlaskClient, token: str, result_id: int, *, passed: bool, test_name: str, quiz: str = LASER_QUIZ) -> int:
    body, headers = signed(result_payload(token, result_id=result_id, passed=passed, test_name=test_name, quiz=quiz))
    answer = client.post("/add_classmarker_training", data=body, headers=headers)
    assert answer.status_code == 200, answer.json
    return int(answer.json["event_id"])


@pytest.fixture
def morning(client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, clock: SettableClock) -> Morning:
    tokens = [bridge.codec.encode(*pair) for pair in ((PETRA, LASER), (MARTIN, SOLDERING), (JAN, CNC))]
    simulator.faults.down = True
    dead = deliver(client, tokens[0], 5001, passed=True, test_name="Laser cutter - safety")
    clock.advance(hours=49)
    client.post("/cron/retry", headers={"CronjobToken": CRON_TOKEN})
    simulator.faults.down = False
    granted = deliver(client, tokens[1], 5002, passed=True, test_name="Soldering", quiz=quiz_of(SOLDERING))
    failed = deliver(client, tokens[2], 5003, passed=False, test_name="CNC mill", quiz=quiz_of(CNC))
    forged = "gAAAAAforged" + tokens[2][12:]
    rejected = deliver(client, forged, 5004, passed=True, test_name="CNC mill", quiz=quiz_of(CNC))
    statuses = {event_id: bridge.event(event_id).status for event_id in (dead, granted, failed, rejected)}
    assert statuses == {dead: "dead", granted: "applied", failed: "applied", rejected: "rejected"}
    return Morning(dead, granted, failed, rejected, [*tokens, forged])


@pytest.fixture
def staff(client: FlaskClient, smtp: SmtpSink, morning: Morning) -> Iterator[FlaskClient]:
    sign_in(client, smtp, OWNER)
    smtp.clear()
    client.get("/staff/?lang=en")  # English from here on, kept in the language cookie
    yield client


def html(answer: TestResponse) -> str:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "text/html"
    return answer.get_data(as_text=True)


def result_ids(page: str) -> list[int]:
    """The result numbers a result list shows, in order."""
    return [int(number) for number in re.findall(r'href="/staff/results/(\d+)"', page)]
