"""The staff sign-in tells nobody who is staff, cannot be pointed elsewhere, and cannot be turned into a lockout.

The attacks of issue 18, each against a bridge as it is served:
- timing: the answer for a staff address took ~330 ms (Fabman asked, the
  link mailed before the connection closed) against ~20 ms for anyone else;
  measured here as the ratio of the medians of many requests, with Fabman and
  SMTP as slow as real ones, over connections the server closes when done;
- Host-header poisoning: a sign-in link built from the request's `Host`
  carries the token to the host the requester named;
- a forged `X-Forwarded-For` made each request a new client for the limit;
- a flood of requests for the owner's address from another client locked the
  owner out (the limit counted the address alone).
"""

from __future__ import annotations

import re
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.clock import SettableClock
from harness.launch import SmtpSink
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import OWNER, STAFF_EMAILS, ask_for_link, csrf_token, link_path, links_in

STRANGER = "nobody@nowhere.example"
ROUNDS = 12
FABMAN_LATENCY_MS = 40
SMTP_SECONDS = 0.25
COOKIE = re.compile(r"fablab_staff=([^;]+)")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: SettableClock) -> Flask:
    return make_app(clock=clock, STAFF_EMAILS=STAFF_EMAILS)


@pytest.fixture
def served(app: Flask) -> Iterator[int]:
    """The app on a loopback port, served in a thread by a server that closes each connection once the app is done."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def timed_sign_in_request(port: int, email: str) -> float:
    """Ask for a link as an attacker with a stopwatch: seconds from sending the form to the connection's close."""
    page = requests.get(f"http://127.0.0.1:{port}/staff/login", timeout=10)
    cookie = COOKIE.search(page.headers["Set-Cookie"])
    assert cookie is not None
    body = urlencode({"email": email, "csrf_token": csrf_token(page.text)}).encode("ascii")
    head = (
        f"POST /staff/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: fablab_staff={cookie.group(1)}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        started = time.perf_counter()
        connection.sendall(head + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        took = time.perf_counter() - started
    assert answer.startswith(b"HTTP/1.") and b" 303 " in answer.split(b"\r\n", 1)[0]
    return took


def sign_in_requests_queued(bridge: Bridge) -> bool:
    """Whether the outbox still holds a sign-in request (so each timed request starts on a quiet bridge)."""
    return any(message.channel == "staff_sign_in" for message in bridge.store.outbox.messages())


@pytest.mark.e2e
def test_the_answer_takes_as_long_for_a_staff_address_as_for_anyone(
    served: int, smtp: SmtpSink, simulator: FabmanSimulator, clock: SettableClock, bridge: Bridge
) -> None:
    simulator.faults.update(latency_ms=FABMAN_LATENCY_MS)
    smtp.delay = SMTP_SECONDS
    staff, strangers = [], []
    for number in range(ROUNDS):
        staff.append(timed_sign_in_request(served, OWNER))
        wait_until(lambda: not sign_in_requests_queued(bridge), timeout=30, what="the staff request handled")
        strangers.append(timed_sign_in_request(served, STRANGER))
        wait_until(lambda: not sign_in_requests_queued(bridge), timeout=30, what="the stranger's request handled")
        wait_until(lambda n=number: len(links_in(smtp.to(OWNER))) == n + 1, timeout=30, what="the staff link mailed")  # type: ignore[misc]
        clock.advance(minutes=16)  # a new rate-limit window: the attacker is patient

    ratio = statistics.median(staff) / statistics.median(strangers)
    print(
        f"sign-in answer, median of {ROUNDS}: staff {statistics.median(staff) * 1000:.1f} ms, "
        f"others {statistics.median(strangers) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 1 / 3 < ratio < 3
    assert links_in(smtp.to(STRANGER)) == []


@pytest.mark.parametrize("public_url", [None, "https://bridge.fablab.example"])
def test_a_forged_host_header_never_reaches_the_link_in_the_mail(
    make_app: Callable[..., Flask], clock: SettableClock, smtp: SmtpSink, public_url: str | None
) -> None:
    client = make_app(clock=clock, PUBLIC_URL=public_url).test_client()
    evil = {"HTTP_HOST": "evil.example", "HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "https"}

    token = csrf_token(client.get("/staff/login", environ_base=evil))
    client.post("/staff/login", data={"email": OWNER, "csrf_token": token}, environ_base=evil)

    links = links_in(smtp.to(OWNER))
    assert len(links) == 1
    assert "evil.example" not in links[0]
    assert links[0].startswith(f"{public_url or 'http://localhost:5000'}/staff/link?token=")
    assert client.get(link_path(links[0])).status_code == 303


def test_a_forged_x_forwarded_for_is_not_a_new_client(app: Flask, smtp: SmtpSink) -> None:
    client = app.test_client()
    answers = []
    for number in range(21):
        token = csrf_token(client.get("/staff/login"))
        answers.append(
            client.post(
                "/staff/login",
                data={"email": f"visitor{number}@nowhere.example", "csrf_token": token},
                headers={"X-Forwarded-For": f"203.0.113.{number}"},
            ).status_code
        )

    assert answers == [303] * 20 + [429]


def test_behind_one_trusted_proxy_only_the_address_the_proxy_saw_counts(
    make_app: Callable[..., Flask], clock: SettableClock, smtp: SmtpSink
) -> None:
    client = make_app(clock=clock, TRUSTED_PROXIES="1").test_client()
    answers = []
    for number in range(6):
        token = csrf_token(client.get("/staff/login"))
        spoofed = f"198.51.100.{number}, 203.0.113.5"  # the client's own entry, then the one the proxy appended
        answers.append(
            client.post(
                "/staff/login", data={"email": OWNER, "csrf_token": token}, headers={"X-Forwarded-For": spoofed}
            ).status_code
        )
    token = csrf_token(client.get("/staff/login"))
    owner = client.post("/staff/login", data={"email": OWNER, "csrf_token": token}, headers={"X-Forwarded-For": "192.0.2.44"})

    assert answers == [303] * 5 + [429]
    assert owner.status_code == 303


def test_a_flood_for_the_owners_address_from_another_client_does_not_lock_the_owner_out(app: Flask, smtp: SmtpSink) -> None:
    flood = [ask_for_link(app.test_client(), OWNER, remote="198.51.100.66").status_code for _ in range(30)]

    owner = ask_for_link(app.test_client(), OWNER, remote="203.0.113.20")

    assert flood.count(429) == 25
    assert owner.status_code == 303
    assert len(links_in(smtp.to(OWNER))) == 6


def test_the_request_leaves_no_link_in_the_store(client: FlaskClient, smtp: SmtpSink) -> None:
    ask_for_link(client, OWNER)
    token = link_path(links_in(smtp.to(OWNER))[0]).rsplit("=", 1)[1]

    bridge_store = client.application.extensions["fablab_bridge"].store
    with bridge_store.database.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM outbox_messages"))
    assert token not in dump and OWNER not in dump
