"""Staff console fixtures: a bridge with staff configured, and signing in as staff do, from the mail.

Every test here talks to the Fabman simulator and the SMTP sink (real
servers on loopback), so every module here is marked `e2e`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge.application import Bridge
from bridge.clock import SettableClock
from harness.launch import SmtpSink
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
    rows, _ = bridge.store.staff_actions(limit=1000)
    return [(row.staff, row.action, row.target) for row in reversed(rows)]
