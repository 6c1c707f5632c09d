"""Contract 5: member mail goes through the outbox, so an SMTP outage loses nothing and sends nothing twice."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import Bridge, bridge_of
from harness.classmarker import result_payload
from harness.launch import SmtpSink, free_port
from sandbox.simulator import FabmanSimulator
from tests.support import text_of
from tests.webhook.conftest import course_records, deliver, only_event, settled, token

PETRA, LASER = 1, 2


def test_smtp_refusing_does_not_stop_the_result_and_the_mail_follows_once_it_is_back(
    client: FlaskClient, bridge: Bridge, simulator: FabmanSimulator, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    smtp.refuse = True

    response = deliver(client, result_payload(token(bridge, PETRA, LASER)))

    assert (settled(bridge, response).status, settled(bridge, response).outcome) == ("applied", "granted")
    assert len(course_records(simulator, PETRA, LASER)) == 1
    assert only_event(bridge.store).status == "applied"
    [pending] = bridge.store.outbox.messages()
    assert (pending.status, pending.recipient, pending.attempts) == ("pending", "petra.dvorakova@example.org", 1)
    assert pending.last_error and pending.sent_at is None
    assert smtp.messages == []

    smtp.refuse = False
    first = client.post("/cron/retry", headers=cron_headers).json
    second = client.post("/cron/retry", headers=cron_headers).json

    assert (first["processed"], first["mails_sent"]) == (0, 1)
    assert second["mails_sent"] == 0
    [mail] = smtp.messages
    assert mail["To"] == "petra.dvorakova@example.org"
    assert "Online školení „Laserová řezačka“ máte zapsané" in text_of(mail)
    assert 'Your online training "Laser cutter" is now recorded' in text_of(mail)
    [sent] = bridge.store.outbox.messages()
    assert sent.status == "sent" and sent.sent_at is not None


@pytest.mark.e2e
def test_no_smtp_server_at_all_keeps_the_mail_pending(make_app: Callable[..., Flask], simulator: FabmanSimulator) -> None:
    app = make_app(MAIL_PORT=str(free_port()))
    found = bridge_of(app)

    response = deliver(app.test_client(), result_payload(found.codec.encode(PETRA, LASER)))

    assert settled(found, response).status == "applied"
    assert len(course_records(simulator, PETRA, LASER)) == 1
    [pending] = found.store.outbox.messages()
    assert pending.status == "pending"
    assert "ConnectionRefusedError" in (pending.last_error or "")


@pytest.mark.e2e
def test_an_smtp_server_that_never_answers_times_out_and_the_mail_stays_queued(
    make_app: Callable[..., Flask], simulator: FabmanSimulator
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections, never sends SMTP's greeting
        app = make_app(MAIL_PORT=str(silent.getsockname()[1]), MAIL_TIMEOUT="0.5")
        found = bridge_of(app)

        response = deliver(app.test_client(), result_payload(found.codec.encode(PETRA, LASER)))

    assert (settled(found, response).status, settled(found, response).outcome) == ("applied", "granted")
    assert len(course_records(simulator, PETRA, LASER)) == 1
    [pending] = found.store.outbox.messages()
    assert pending.status == "pending"
    assert "timed out" in (pending.last_error or "")
