"""The mailbox of a bridge whose mail stays in its process: what SMTP would have carried, no server.

The bridge sends through its own SMTP transport with Flask-Mail's sending
suppressed (MAIL_SUPPRESS_SEND); Flask-Mail then announces each message it
would have handed to SMTP (`email_dispatched`), and the mailbox parses its
bytes as an SMTP server receives them. It has `SmtpSink`'s interface
(`messages`, `to`, `clear`, `refuse`, `delay`), so a test reads the mail in
the mailbox the same way in either world. Where SMTP itself is the point
(timeouts, the conversation, a server that hangs), tests use the sink.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import threading
import time
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask_mail import email_dispatched


class Mailbox:
    """Messages received, in order; `refuse` makes every send fail, `delay` (seconds) makes each slow."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.refuse = False
        self.delay = 0.0

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
        self.refuse = False
        self.delay = 0.0

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to one recipient."""
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]


class InProcessMailbox(Mailbox):
    """Every message the connected apps dispatched; while `refuse` is set each send fails as a 451 would."""

    port = 25
    """No server listens: MAIL_PORT for a configuration that needs one."""

    def __init__(self) -> None:
        super().__init__()
        self._apps: list[Flask] = []

    def connect(self, app: Flask) -> None:
        """Receive what `app` sends (its Flask-Mail must be suppressed: MAIL_SUPPRESS_SEND)."""
        if not app.extensions["mail"].suppress:
            raise RuntimeError("the app sends over SMTP: set MAIL_SUPPRESS_SEND=true for an in-process mailbox")
        email_dispatched.connect(self._dispatched, sender=app, weak=False)
        self._apps.append(app)

    def disconnect(self) -> None:
        """Stop receiving from every connected app."""
        for app in self._apps:
            email_dispatched.disconnect(self._dispatched, sender=app)
        self._apps.clear()

    def _dispatched(self, app: Flask, message: Any, **_: Any) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.refuse:
            raise smtplib.SMTPDataError(451, b"Temporarily unavailable")
        received = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        with self._lock:
            self.messages.append(received)
