"""Member mail and staff alerts, through the outbox.

Nothing is sent directly: a use case queues a message in the same transaction
that records what happened, and :meth:`Notifier.flush` sends what is due
(right after the commit, and again from the retry job). So a mail is never lost
when SMTP or Discord is down; it is sent once they are back. Each message has a
dedupe key, so the same event never queues the same mail twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import smtplib
from dataclasses import dataclass
from email.header import Header
from typing import Any

import requests
from flask import Flask
from flask_mail import Connection, Mail, Message
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from bridge.adapters.store import Store, utcnow
from bridge.adapters.store.models import OutboxMessage

log = logging.getLogger(__name__)

MEMBER_MAIL_KINDS = frozenset({"granted", "failed", "out_of_attempts", "error", "expired", "reminder"})
_CZECH_MONTHLESS = "{d.day}. {d.month}. {d.year}"


class DeliveryFailed(RuntimeError):
    """A channel refused or could not take a message; it stays queued."""


@dataclass(frozen=True)
class FlushReport:
    """What one flush did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


def format_dates(day: dt.date | None) -> dict[str, str | None]:
    """A date as Czech and English mail text (None stays None)."""
    if day is None:
        return {"until_date_cs": None, "until_date_en": None}
    return {"until_date_cs": _CZECH_MONTHLESS.format(d=day), "until_date_en": day.strftime("%d %b %Y").lstrip("0")}


class Notifier:
    """Renders, queues and sends member mail and staff alerts."""

    def __init__(
        self,
        app: Flask,
        store: Store,
        mail: Mail,
        *,
        support_email: str | None,
        discord_webhook_url: str | None,
        fablab_name: str = "FabLab Brno",
        max_age_hours: float = 48.0,
        lease_seconds: float = 120.0,
        timeout: float = 10.0,
        retry_base_seconds: float = 30.0,
    ) -> None:
        self.app = app
        self.store = store
        self.mail = mail
        self.support_email = support_email
        self.discord_webhook_url = discord_webhook_url
        self.fablab_name = fablab_name
        self.max_age = dt.timedelta(hours=max_age_hours)
        self.lease_seconds = lease_seconds
        self.timeout = timeout
        self.retry_base_seconds = retry_base_seconds
        self.http = requests.Session()
        self.templates = Environment(
            loader=PackageLoader("bridge", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )

    # -- queueing --------------------------------------------------------

    def render(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """Subject, plain text and HTML of a member mail."""
        full = {"support_email": self.support_email, "fablab_name": self.fablab_name, **context}
        subject, text = _split_subject(self.templates.get_template(f"mail/{kind}.txt").render(full))
        html = self.templates.get_template(f"mail/{kind}.html").render(full)
        return subject, text, html

    def queue_member_mail(
        self,
        session: Session,
        *,
        kind: str,
        recipient: str | None,
        dedupe_key: str,
        context: dict[str, Any],
        member_id: int | None = None,
        event_id: int | None = None,
    ) -> bool:
        """Queue one member mail in the caller's transaction; False if already queued or no address."""
        if kind not in MEMBER_MAIL_KINDS:
            raise ValueError(f"unknown mail kind {kind!r}")
        if not recipient:
            log.warning("member %s has no e-mail address; %s mail not queued", member_id, kind)
            return False
        subject, text, html = self.render(kind, context)
        return self.store.enqueue(
            session,
            {
                "dedupe_key": dedupe_key,
                "channel": "mail",
                "recipient": recipient,
                "subject": subject,
                "body_text": text,
                "body_html": html,
                "member_id": member_id,
                "event_id": event_id,
            },
        )

    def queue_staff_alert(
        self,
        session: Session,
        *,
        dedupe_key: str,
        title: str,
        message: str,
        event_id: int | None = None,
        member_id: int | None = None,
        course_id: int | None = None,
    ) -> int:
        """Queue an alert to the support address and to Discord (whichever are set)."""
        context = {"title": title, "message": message, "event_id": event_id, "member_id": member_id, "course_id": course_id}
        subject, text = _split_subject(self.templates.get_template("mail/staff_alert.txt").render(context))
        log.warning("staff alert: %s (event %s)", title, event_id)
        queued = 0
        if self.support_email:
            queued += self.store.enqueue(
                session,
                {
                    "dedupe_key": f"{dedupe_key}:mail",
                    "channel": "alert_mail",
                    "recipient": self.support_email,
                    "subject": subject,
                    "body_text": text,
                    "event_id": event_id,
                    "member_id": member_id,
                },
            )
        if self.discord_webhook_url:
            queued += self.store.enqueue(
                session,
                {
                    "dedupe_key": f"{dedupe_key}:discord",
                    "channel": "discord",
                    "recipient": None,
                    "subject": subject,
                    "body_text": f"**{subject}**\n{text}"[:1900],
                    "event_id": event_id,
                    "member_id": member_id,
                },
            )
        return queued

    # -- sending ---------------------------------------------------------

    def flush(self, *, limit: int = 100, ids: list[int] | None = None) -> FlushReport:
        """Send what is due now; failures stay queued with backoff, dead once older than the maximum age."""
        sent = failed = dead = 0
        for message in self.store.claim_messages(self.lease_seconds, limit=limit, ids=ids):
            try:
                self._deliver(message)
            except Exception as exc:  # noqa: BLE001 - any transport failure keeps the message queued
                give_up = utcnow() - message.created_at > self.max_age
                delay = min(3600.0, self.retry_base_seconds * 2 ** (message.attempts - 1)) * (0.5 + random.random())  # noqa: S311
                self.store.finish_message(
                    message.id,
                    status="dead" if give_up else "pending",
                    last_error=f"{type(exc).__name__}: {exc}"[:500],
                    next_attempt_at=utcnow() + dt.timedelta(seconds=delay),
                )
                log.warning(
                    "%s message %s not sent (attempt %d): %s", message.channel, message.id, message.attempts, type(exc).__name__
                )
                dead += give_up
                failed += not give_up
            else:
                self.store.finish_message(message.id, status="sent", sent_at=utcnow(), last_error=None)
                sent += 1
        return FlushReport(sent=sent, failed=failed, dead=dead)

    def _deliver(self, message: OutboxMessage) -> None:
        if message.channel == "discord":
            self._post_to_discord(message.body_text)
            return
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

    def _post_to_discord(self, content: str) -> None:
        """POST to the incoming webhook; errors never carry its URL, which holds Discord's token."""
        if not self.discord_webhook_url:
            raise DeliveryFailed("DISCORD_WEBHOOK_URL is no longer set")
        try:
            response = self.http.post(self.discord_webhook_url, json={"content": content}, timeout=self.timeout)
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


def _encoded_subject(subject: str) -> str:
    """RFC 2047 words folded for the `Subject:` line, so no mail library refolds them.

    Python 3.11's refolding drops the space between two encoded words
    ("Laserová řezačka" arrived as "Laserovářezačka"); a subject that already
    fits its lines is sent as it is.
    """
    return subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _split_subject(rendered: str) -> tuple[str, str]:
    """Templates start with `Subject: ...` and a blank line."""
    first, _, body = rendered.lstrip().partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError("mail template must start with a 'Subject:' line")
    return first[len("Subject:") :].strip(), body.lstrip("\n")
