"""Who may use the staff console and how they get in: a one-time link by mail, then a session.

Fabman members with `admin` or `owner` privileges and the addresses in
STAFF_EMAILS may sign in (contract section 9), and only while they still
may: a session's holder is confirmed again at most every
RIGHTS_CHECK_EVERY and before every state-changing request, and the session
ends the moment the answer is no (third wave).

Nobody learns from the bridge who is staff. A request for a link does the
same two writes for every address (count it, queue it in the outbox) and is
answered; the outbox sender then asks Fabman, and mails a link only to staff.
The queued row never holds the link: the sender makes the token when it
sends, the store keeps only its hash, and the row is dropped once handled.
Sessions are store rows too (a hash of the cookie's id), so signing out ends
a session even for a copied cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bridge.adapters.fabman import FabmanError
from bridge.adapters.mail import Transport
from bridge.adapters.store import SignInLimits
from bridge.adapters.store.models import OutboxMessage
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel
from bridge.services.deps import Deps

log = logging.getLogger("bridge.staff")

LINK_REQUEST_WINDOW = dt.timedelta(minutes=15)
LINK_REQUEST_LIMITS = SignInLimits(pair=5, address=20, client=20)
"""Per 15 minutes: 5 requests for one address from one client; 20 for one address, and 20 from one client, in all.

A flood for the owner's address from another client spends that client's
own 5; the wider per-address cap still keeps the owner's mailbox from a
flood sent from many clients.
"""
RIGHTS_CHECK_EVERY = dt.timedelta(minutes=5)
"""How long a confirmation that a session's holder is staff holds for reading pages."""
SIGN_IN_LINK_PATH = "/staff/link"


class RightsUnconfirmed(Exception):
    """Fabman could not say whether the holder is still staff, so a state-changing request must not go ahead."""


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


def staff_ref(email: str) -> str:
    """How logs name a staff member: a stable pseudonym, never the address (the staff log in the store has it)."""
    return "staff-" + digest(normalised(email))[:10]


def audit(deps: Deps, staff: str, action: str, target: str | None = None, detail: str | None = None) -> None:
    """Record a staff action in the store for good, and log it (naming the staff member by pseudonym)."""
    deps.store.console.record_staff_action(staff, action, target, detail)
    log.info("staff action: %s %s %s%s", staff_ref(staff), action, target or "-", f" ({detail})" if detail else "")


class StaffAccess:
    """Sign-in links, sessions, the rights behind them and the sign-in rate limit.

    It is also the outbox's transport for sign-in requests (`send`), which the
    outbox sender calls; the link itself leaves through `mail`, the outbox's
    mail transport, and is never queued.
    """

    def __init__(self, deps: Deps, *, mail: Transport, send_soon: Callable[[int], object] | None = None) -> None:
        self.deps = deps
        self._mail = mail
        self._send_soon = send_soon

    def request_link(self, email: str, client: str, *, next_path: str | None = None) -> bool:
        """Count and queue a request for a link, the same for any address; False when over the rate limit."""
        address = normalised(email)
        request = OutgoingMessage(
            dedupe_key=f"staff-sign-in:{uuid.uuid4().hex}",
            channel=Channel.STAFF_SIGN_IN,
            recipient=address,
            subject="Console sign-in requested",
            body_text=next_path or "",
        )
        queued = self.deps.store.console.request_sign_in(
            digest(address), client, window=LINK_REQUEST_WINDOW, limits=LINK_REQUEST_LIMITS, request=request
        )
        if queued is None:
            return False
        if self._send_soon is not None:
            self._send_soon(queued)
        return True

    def holds_rights(self, email: str) -> bool:
        """In STAFF_EMAILS, or an active Fabman admin or owner with exactly this address; FabmanError when unknown."""
        address = normalised(email)
        if address in self.deps.settings.staff_emails:
            return True
        found = self.deps.fabman.find_members(address, privileges=True)
        return any(
            normalised(member.email or "") == address and member.is_privileged and member.state == "active" for member in found
        )

    def send(self, message: OutboxMessage) -> None:
        """The outbox's transport for a sign-in request: mail a link if the address is staff, else nothing.

        A request older than a link's lifetime is dropped (its asker has gone);
        Fabman or SMTP failing raises, so the outbox tries again later.
        """
        lifetime = dt.timedelta(minutes=self.deps.settings.staff_link_minutes)
        address = normalised(message.recipient or "")
        if not address or self.deps.now() - message.created_at > lifetime:
            log.info("console sign-in request %s dropped: older than a link lives", message.id)
            return
        if not self.holds_rights(address):
            log.info("console sign-in requested for an address that is not staff; nothing sent")
            return
        token = self.issue_link(address, next_path=message.body_text or None)
        link = f"{self.deps.settings.link_base}{SIGN_IN_LINK_PATH}?token={token}"
        self._mail.send(self._link_mail(address, link, token))
        log.info("console sign-in link sent to %s", staff_ref(address))

    def issue_link(self, email: str, *, next_path: str | None = None) -> str:
        """A new one-time token for a staff address, valid STAFF_LINK_MINUTES (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        expires = self.deps.now() + dt.timedelta(minutes=self.deps.settings.staff_link_minutes)
        self.deps.store.console.add_sign_in_link(digest(token), normalised(email), next_path, expires)
        return token

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
        link = self.deps.store.console.use_sign_in_link(digest(token))
        if link is None:
            log.info("console sign-in link refused: unknown, used or expired")
            return None
        session_id = secrets.token_urlsafe(32)
        expires = self.deps.now() + dt.timedelta(hours=self.deps.settings.staff_session_hours)
        self.deps.store.console.open_staff_session(digest(session_id), link.email, expires)
        audit(self.deps, link.email, "sign-in")
        return SignedIn(session_id, link.email, link.next_path)

    def session(self, session_id: str, *, changing: bool = False) -> StaffMember | None:
        """Who holds this session, unless it ended, expired or its holder is no longer staff.

        The holder's rights are confirmed again when the last confirmation is
        RIGHTS_CHECK_EVERY old, and always before a state-changing request
        (`changing`); a holder who lost them has the session ended there and
        then. When Fabman cannot answer, pages stay readable (asked again on
        the next request) but a change raises RightsUnconfirmed.
        """
        id_hash = digest(session_id)
        found = self.deps.store.console.live_staff_session(id_hash)
        if found is None:
            return None
        now = self.deps.now()
        if changing or now - (found.checked_at or found.created_at) >= RIGHTS_CHECK_EVERY:
            try:
                still_staff = self.holds_rights(found.email)
            except FabmanError as error:
                log.warning("could not confirm that %s is still staff: %s", staff_ref(found.email), type(error).__name__)
                if changing:
                    raise RightsUnconfirmed from error
                return StaffMember(found.email, found.expires_at)
            if not still_staff:
                if self.deps.store.console.end_staff_session(id_hash):
                    audit(self.deps, found.email, "session-ended", detail="no longer staff")
                return None
            self.deps.store.console.staff_session_checked(id_hash, now)
        return StaffMember(found.email, found.expires_at)

    def sign_out(self, session_id: str) -> None:
        """End the session now."""
        found = self.deps.store.console.live_staff_session(digest(session_id))
        if found is not None and self.deps.store.console.end_staff_session(digest(session_id)):
            audit(self.deps, found.email, "sign-out")
