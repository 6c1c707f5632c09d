"""Signing in by a one-time link in the mail, and signing out.

`POST /staff/login` answers every address alike, and at once: it counts the
request for the rate limit and redirects to "check your mail". Whether the
address is staff is decided after the answer is out (Fabman is asked then,
and the mail sent), so neither the answer nor its timing tells who is staff.
"""

from __future__ import annotations

import logging
import re

from flask import make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bridge.application import bridge_of
from bridge.web.staff.session import blueprint, current_staff, error_page, safe_next, wants_html

log = logging.getLogger(__name__)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
MAX_EMAIL_LENGTH = 320


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    """The sign-in form (one field, `email`)."""
    if current_staff() is not None:
        return redirect(url_for("staff.overview"))
    notice = "login.expired" if request.args.get("ended") else "login.signed_out" if request.args.get("out") else None
    return _login_page(notice=notice)


@blueprint.post("/login")
def request_link() -> ResponseReturnValue:
    """Mail a sign-in link if the address is staff; the same answer for every address."""
    email = (request.form.get("email") or "").strip()
    next_path = safe_next(request.form.get("next"))
    if not email or len(email) > MAX_EMAIL_LENGTH or "@" not in email:
        return _login_page(status=400, notice="login.bad_email", email=email)
    access = bridge_of().staff_access
    if not access.count_request(email, client_address()):
        if not wants_html():
            return error_page(429, "login.too_many")
        return _login_page(status=429, notice="login.too_many", email=email)
    link_root = _public_base() + url_for("staff.use_link") + "?token="

    def send() -> None:
        try:
            access.send_link(email, link_for=lambda token: link_root + token, next_path=next_path)
        except Exception:  # noqa: BLE001 - the answer is out; the staff member asks again
            log.exception("sending a console sign-in link failed")

    response = redirect(url_for("staff.login_sent"), 303)
    response.call_on_close(send)
    return response


@blueprint.get("/login/sent")
def login_sent() -> ResponseReturnValue:
    """ "Check your mail": the same page whoever asked (it holds no form, so no per-visitor token)."""
    return make_response(render_template("staff/login_sent.html", minutes=bridge_of().settings.staff_link_minutes))


@blueprint.get("/link")
def use_link() -> ResponseReturnValue:
    """Follow the link from the mail: spend it and open a session, then go where the user was going.

    The token travels in the query string, which the bridge's request log leaves out.
    """
    token = request.args.get("token") or ""
    signed = bridge_of().staff_access.sign_in(token) if TOKEN.match(token) else None
    if signed is None:
        if not wants_html():
            return error_page(400, "login.invalid_link")
        return _login_page(status=400, notice="login.invalid_link")
    session.clear()
    session["sid"] = signed.session_id
    session.permanent = True
    return redirect(safe_next(signed.next_path) or url_for("staff.overview"), 303)


@blueprint.post("/logout")
def sign_out() -> ResponseReturnValue:
    """End the session now."""
    session_id = session.get("sid")
    if isinstance(session_id, str):
        bridge_of().staff_access.sign_out(session_id)
    session.clear()
    return redirect(url_for("staff.login", out=1), 303)


def client_address() -> str:
    """The client's address for the rate limit: the one the nearest proxy saw, else the socket's.

    Behind one reverse proxy every request comes from the proxy; it appends the
    real client to `X-Forwarded-For`, so the last entry is the one to trust. A
    client talking to the bridge directly can forge that entry, which only
    spreads its own requests over more counters: the per-address limit holds.
    """
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    return (forwarded[-1] if forwarded else request.remote_addr or "unknown")[:64]


def _public_base() -> str:
    """Where links in mail point: PUBLIC_URL, or in development the address this request came to."""
    configured = bridge_of().settings.public_url
    return configured if configured else request.host_url.rstrip("/")


def _login_page(*, status: int = 200, notice: str | None = None, email: str = "") -> ResponseReturnValue:
    next_path = safe_next(request.values.get("next"))
    page = render_template("staff/login.html", notice=notice, next_path=next_path, email=email)
    return make_response(page, status)
