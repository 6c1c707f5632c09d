"""No log line carries a token from a URL or names a member, and production answers pin https (issue 18).

The attacks:
- the development server (werkzeug) logged every request line in full, so a
  sign-in link's token (`/staff/link?token=...`) and Fabman's webhook token
  (`/fabman_webhook?token=...`) sat in the log, for anyone who reads logs to
  sign in as staff or forge Fabman events;
- log lines named people (staff sign-ins and actions by e-mail address);
- under BE_ENV=prod no answer carried `Strict-Transport-Security`, so a
  browser could be talked down to plain http.

The first two are tested against the bridge started as the README says for
development (`python main_run.py`), its whole output searched.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask

from bridge.adapters.codec import CmUserIdCodec
from harness import FABMAN_WEBHOOK_TOKEN, WEBHOOK_SECRET
from harness.classmarker import result_payload, signed
from harness.launch import ServerProcess, SmtpSink, free_port
from harness.wait import wait_until
from tests.conftest import FERNET_KEY
from tests.console.conftest import ADMIN, OWNER, STAFF_EMAILS, csrf_token, links_in

PETRA = 1
PEOPLE = [
    OWNER,
    ADMIN,
    "petra.dvorakova@example.org",
    "petra@example.org",
    "Procházka",
    "Černá",
    "Dvořáková",
    "Dvorakova",
]
"""Staff and a member, as their addresses and names appear in Fabman and in ClassMarker's payload."""
HSTS = re.compile(r"^max-age=(\d+)(; includeSubDomains)?$")


@pytest.mark.e2e
def test_the_development_server_logs_no_url_token_and_no_member_by_name(
    env: dict[str, str], smtp: SmtpSink, tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "bridge.log"
    settings = {**env, "STAFF_EMAILS": STAFF_EMAILS, "PUBLIC_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "main_run.py", "--host", "127.0.0.1", "--port", str(port)]
    with ServerProcess("development server", args, port=port, env=settings, log_path=log_path) as server:
        browser = requests.Session()
        token = csrf_token(browser.get(f"{server.url}/staff/login", timeout=10).text)
        assert browser.post(f"{server.url}/staff/login", data={"email": OWNER, "csrf_token": token}, timeout=10).ok
        link = wait_until(lambda: links_in(smtp.to(OWNER)), timeout=30, what="the sign-in mail")[0]
        link_token = link.rsplit("=", 1)[1]
        assert browser.get(link, timeout=10).url.endswith("/staff/")
        browser.get(f"{server.url}/staff/link?token={'A' * 43}", timeout=10)
        requests.post(f"{server.url}/fabman_webhook?token={FABMAN_WEBHOOK_TOKEN}", json={"id": 1, "type": "x"}, timeout=10)
        quiz_token = CmUserIdCodec((FERNET_KEY,)).encode(PETRA, 2)
        body, headers = signed(result_payload(quiz_token, result_id=4242001), WEBHOOK_SECRET)
        assert requests.post(f"{server.url}/add_classmarker_training", data=body, headers=headers, timeout=10).ok
        wait_until(lambda: smtp.to("petra.dvorakova@example.org"), timeout=30, what="Petra's mail")
        requests.get(f"{server.url}/available_trainings/{PETRA}?cm_user_id={quiz_token}", timeout=10)
    output = log_path.read_text("utf-8")

    assert "GET /staff/link?token=[redacted]" in output  # werkzeug did log the request lines
    assert "/fabman_webhook?token=[redacted]" in output
    assert "staff action" in output and "sign-in" in output
    for secret in (link_token, FABMAN_WEBHOOK_TOKEN, quiz_token, "A" * 43):
        assert secret not in output
    named = [person for person in PEOPLE if person in output]
    assert named == [], [line for line in output.splitlines() if any(p in line for p in PEOPLE)][:5]


def test_production_answers_carry_strict_transport_security(make_app: Callable[..., Flask]) -> None:
    client = make_app(
        BE_ENV="prod", PUBLIC_URL="https://bridge.fablab.example", CLASSMARKER_WEBHOOK_SECRET=WEBHOOK_SECRET
    ).test_client()

    answers = [
        client.get("/health"),
        client.get("/nowhere"),
        client.get("/apidocs/"),
        client.get("/staff/login"),
        client.get("/staff/"),
        client.post("/add_classmarker_training", data=b"{}"),
        client.get("/absolved_trainings/1"),
    ]

    for answer in answers:
        found = HSTS.match(answer.headers.get("Strict-Transport-Security", ""))
        assert found and int(found.group(1)) >= 31536000, (answer.request.path, answer.status_code)


def test_development_does_not_pin_https(make_app: Callable[..., Flask]) -> None:
    assert "Strict-Transport-Security" not in make_app().test_client().get("/health").headers
