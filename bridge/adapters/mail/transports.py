"""The two ways a queued message leaves the bridge: SMTP (Flask-Mail) and a Discord incoming webhook."""

from __future__ import annotations

import functools
import hashlib
import smtplib
from email.header import Header
from typing import Any

import requests
from flask import Flask
from flask_mail import Connection, Message

from bridge.adapters.store.models import OutboxMessage


class DeliveryFailed(RuntimeError):
    """A channel refused or could not take a message; it stays queued."""


class SmtpTransport:
    """Sends outbox mail through the app's Flask-Mail settings, with a socket timeout."""

    def __init__(self, app: Flask, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    def send(self, message: OutboxMessage) -> None:
        """One SMTP conversation; raises on any failure."""
        with self.app.app_context():  # Flask-Mail reads the sender from the app, even to build a Message
            mail = Message(
                subject=_encoded_subject(message.subject),
                recipients=[message.recipient or ""],
                body=message.body_text,
                html=message.body_html,
            )
            mail.msgId = _message_id(message, mail.sender)
            with _TimedConnection(self.app.extensions["mail"], self.timeout) as connection:
                connection.send(mail)


class DiscordTransport:
    """POSTs alerts to a Discord incoming webhook; errors never carry its URL, which holds Discord's token."""

    def __init__(self, webhook_url: str | None, timeout: float) -> None:
        self.webhook_url = webhook_url
        self.timeout = timeout
        self.http = requests.Session()

    def send(self, message: OutboxMessage) -> None:
        """One POST; raises DeliveryFailed on any failure."""
        if not self.webhook_url:
            raise DeliveryFailed("DISCORD_WEBHOOK_URL is no longer set")
        try:
            response = self.http.post(self.webhook_url, json={"content": message.body_text}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"Discord is unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise DeliveryFailed(f"Discord answered {response.status_code}")


def _message_id(message: OutboxMessage, sender: Any) -> str:
    """The same Message-ID every time this outbox row is sent.

    Sending is at least once: a worker killed after SMTP accepted a mail but
    before the outbox recorded it sends it again. Mail systems fold copies with
    one Message-ID, so the member sees the mail once.
    """
    address = sender[1] if isinstance(sender, tuple) else str(sender or "")
    domain = address.rpartition("@")[2].strip("> ") or "fablab-bridge.invalid"
    digest = hashlib.sha256(message.dedupe_key.encode("utf-8")).hexdigest()[:20]
    return f"<outbox-{message.id}-{digest}@{domain}>"


class _TimedConnection(Connection):
    """Flask-Mail's SMTP connection with a socket timeout.

    Flask-Mail 0.10 opens SMTP without one, so a server that accepts the
    connection and never answers would hang the request that flushes the outbox.
    """

    def __init__(self, mail: Any, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        factory = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = factory(self.mail.server, self.mail.port, timeout=self.timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


@functools.lru_cache(maxsize=256)
def _encoded_subject(subject: str) -> str:
    """RFC 2047 words folded for the `Subject:` line, so no mail library refolds them.

    Python 3.11's refolding drops the space between two encoded words
    ("Laserová řezačka" arrived as "Laserovářezačka"); a subject that already
    fits its lines is sent as it is. Encoding is pure Python and slow, and the
    same few subjects (one per mail kind and course) come back all day, so
    each is encoded once.
    """
    return subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
