"""Who may use the staff console and how they get in: a one-time link by mail, then a session.

Fabman members with `admin` or `owner` privileges and the addresses in
STAFF_EMAILS may sign in (contract section 9). Nobody learns from the bridge
who is staff: the web answers every request for a link alike, before this
module even looks the address up, and sends the link after the answer is out.

The link is a credential, so it is never written down: the store keeps only
a hash of its token, and the mail goes straight to SMTP instead of through
the outbox (whose rows keep their bodies). When SMTP fails the staff member
asks again; the log says so. Sessions are store rows too (a hash of the
cookie's id), so signing out ends a session even for a copied cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bridge.adapters.fabman import FabmanError
from bridge.adapters.store.models import OutboxMessage
from bridge.domain.statuses import Channel
from bridge.services.deps import Deps

log = logging.getLogger("bridge.staff")

LINK_REQUESTS_ALLOWED = 5
LINK_REQUEST_WINDOW = dt.timedelta(minutes=15)
"""At most 5 requests for a link per 15 minutes, per address and per client address."""


@dataclass(frozen=True)
class StaffMember:
    """Who is signed in, and until when."""

    email: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: its id (for the cookie only) and where the link wanted to take its user."""

    session_id: str
    email: str
    next_path: str | None


def normalised(email: str) -> str:
    """Addresses compare case-insensitively and without surrounding space."""
    return email.strip().lower()


def digest(secret: str) -> str:
    """What the store keeps instead of a token or a session id."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def audit(deps: Deps, staff: str, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Record a staff action in the store for good, and log it."""
    deps.store.record_staff_action(staff, action, target, detail)
    log.info("staff action: %s %s %s%s", staff, action, target or "-", f" ({detail})" if detail else "")


class StaffAccess:
    """Sign-in links, sessions and the sign-in rate limit."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def count_request(self, email: str, client: str) -> bool:
        """Count a request for a link; False when the address or the client has asked too often lately."""
        return self.deps.store.note_sign_in_request(
            digest(normalised(email)), client, window=LINK_REQUEST_WINDOW, limit=LINK_REQUESTS_ALLOWED
        )

    def is_staff(self, email: str) -> bool:
        """In STAFF_EMAILS, or an active Fabman admin or owner with exactly this address."""
        address = normalised(email)
        if address in self.deps.settings.staff_emails:
            return True
        try:
            found = self.deps.fabman.find_members(address, privileges=True)
        except FabmanError as error:
            log.warning("could not ask Fabman whether a console sign-in address is staff: %s", error)
            return False
        return any(
            normalised(member.email or "") == address and member.is_privileged and member.state == "active" for member in found
        )

    def issue_link(self, email: str, *, next_path: str | None = None) -> str:
        """A new one-time token for a staff address, valid STAFF_LINK_MINUTES (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        expires = self.deps.now() + dt.timedelta(minutes=self.deps.settings.staff_link_minutes)
        self.deps.store.add_sign_in_link(digest(token), normalised(email), next_path, expires)
        return token

    def send_link(self, email: str, *, link_for: Callable[[str], str], next_path: str | None = None) -> bool:
        """Mail a sign-in link if the address is staff; whether one went out. Runs after the answer."""
        address = normalised(email)
        if not self.is_staff(address):
            log.info("console sign-in requested for an address that is not staff; nothing sent")
            return False
        token = self.issue_link(address, next_path=next_path)
        message = self._link_mail(address, link_for(token), token)
        try:
            self.deps.outbox.transports[Channel.MAIL].send(message)
        except Exception as error:  # noqa: BLE001 - the staff member asks again; the link is never stored
            log.warning("console sign-in link for %s not sent: %s", address, type(error).__name__)
            return False
        log.info("console sign-in link sent to %s", address)
        return True

    def _link_mail(self, address: str, link: str, token: str) -> OutboxMessage:
        """The sign-in mail (Czech and English), shaped as the SMTP transport takes it; never stored."""
        templates = self.deps.renderer.templates
        context = {
            "link": link,
            "minutes": self.deps.settings.staff_link_minutes,
            "fablab_name": self.deps.renderer.fablab_name,
            "support_email": self.deps.renderer.support_email,
        }
        rendered = templates.get_template("staff/mail/sign_in.txt").render(context)
        first_line, _, text = rendered.lstrip().partition("\n")
        return OutboxMessage(
            id=0,
            dedupe_key=f"staff-sign-in:{digest(token)[:24]}",
            channel=Channel.MAIL,
            recipient=address,
            subject=first_line.removeprefix("Subject:").strip(),
            body_text=text.lstrip("\n"),
            body_html=templates.get_template("staff/mail/sign_in.html").render(context),
        )

    def sign_in(self, token: str) -> SignedIn | None:
        """Spend a link and open a session for STAFF_SESSION_HOURS; None for a link unknown, used or expired."""
        link = self.deps.store.use_sign_in_link(digest(token))
        if link is None:
            log.info("console sign-in link refused: unknown, used or expired")
            return None
        session_id = secrets.token_urlsafe(32)
        expires = self.deps.now() + dt.timedelta(hours=self.deps.settings.staff_session_hours)
        self.deps.store.open_staff_session(digest(session_id), link.email, expires)
        audit(self.deps, link.email, "sign-in")
        return SignedIn(session_id, link.email, link.next_path)

    def session(self, session_id: str) -> StaffMember | None:
        """Who holds this session, unless it ended or expired."""
        found = self.deps.store.live_staff_session(digest(session_id))
        return StaffMember(found.email, found.expires_at) if found is not None else None

    def sign_out(self, session_id: str) -> None:
        """End the session now."""
        found = self.deps.store.live_staff_session(digest(session_id))
        if found is not None and self.deps.store.end_staff_session(digest(session_id)):
            audit(self.deps, found.email, "sign-out")
