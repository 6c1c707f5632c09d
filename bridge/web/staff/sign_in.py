"""Signing in by a one-time link in the mail, and signing out.

`POST /staff/login` answers every address alike, and at once: it counts the
request for the rate limit, queues it in the outbox and redirects to "check
your mail". Whether the address is staff is decided by the outbox sender on
its own thread (Fabman is asked then, and the mail sent), so neither the
answer nor its timing tells who is staff. The link in the mail starts with
PUBLIC_URL, never with the Host the request named.
"""

from __future__ import annotations

import re

from flask import make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bridge.application import bridge_of
from bridge.web.staff.session import blueprint, current_staff, error_page, safe_next, wants_html

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
    if not bridge_of().staff_access.request_link(email, client_address(), next_path=next_path):
        if not wants_html():
            return error_page(429, "login.too_many")
        return _login_page(status=429, notice="login.too_many", email=email)
    return redirect(url_for("staff.login_sent"), 303)


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
    """The client's address for the rate limit.

    `request.remote_addr` is the socket's peer, or, behind TRUSTED_PROXIES
    reverse proxies, the address the outermost trusted one saw (werkzeug's
    ProxyFix, set up by the app factory): an `X-Forwarded-For` a client
    writes itself is never believed beyond that depth.
    """
    return (request.remote_addr or "unknown")[:64]


def _login_page(*, status: int = 200, notice: str | None = None, email: str = "") -> ResponseReturnValue:
    next_path = safe_next(request.values.get("next"))
    page = render_template("staff/login.html", notice=notice, next_path=next_path, email=email)
    return make_response(page, status)
