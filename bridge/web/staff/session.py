"""Who is signed in, in which language, and the guard every console request passes.

The guard runs before every console view: the console must be on (PUBLIC_URL
in production), every POST must carry a valid CSRF token (else `400` and
nothing happens), and every page but the sign-in pages needs a live session
(else a redirect to the sign-in page, which remembers where the user was
going, as a path inside `/staff/` only: never an open redirect). A session
lives only while its holder is staff: confirmed every 5 minutes, and again
before every POST that changes something, so a demoted holder's POST ends
the session and changes nothing.

Errors on `/staff/` are pages for a browser and problem details (the API's one
error shape) for any other client, chosen by the request's `Accept` header.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from bridge.application import bridge_of
from bridge.errors import BridgeError
from bridge.services.staff_access import RightsUnconfirmed, StaffMember
from bridge.web.problems import problem_response
from bridge.web.staff.i18n import DEFAULT_LANGUAGE, LANGUAGES, format_date, format_moment, translate

STATIC = Path(__file__).resolve().parents[2] / "static" / "staff"
LANGUAGE_COOKIE = "fablab_staff_lang"
SIGN_IN_ENDPOINTS = frozenset({"staff.login", "staff.request_link", "staff.login_sent", "staff.use_link"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

blueprint = Blueprint("staff", __name__, url_prefix="/staff", static_folder=str(STATIC), static_url_path="/static")
csrf = CSRFProtect()


# -- the guard ----------------------------------------------------------------------


@blueprint.before_request
def guard() -> ResponseReturnValue | None:
    """Language first (every answer needs it), then the console switch, CSRF and the session."""
    g.lang = _language()
    if request.endpoint == "staff.static":
        return None
    if not bridge_of().settings.console_enabled:
        return error_page(503, "error.disabled")
    csrf.protect()
    if request.endpoint in SIGN_IN_ENDPOINTS:
        return None
    try:
        staff = current_staff(changing=request.method == "POST" and request.endpoint != "staff.sign_out")
    except RightsUnconfirmed:
        return error_page(503, "error.rights_unconfirmed")
    if staff is None:
        return redirect(sign_in_url(ended="sid" in session), 303 if request.method == "POST" else 302)
    g.staff = staff
    return None


@blueprint.after_request
def console_headers(response: Response) -> ResponseReturnValue:
    """The language choice, kept; a policy that lets the page use only its own stylesheet and forms."""
    chosen = g.get("lang_chosen")
    if chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=int(dt.timedelta(days=365).total_seconds()),
            path="/staff",
            httponly=True,
            samesite="Lax",
            secure=bridge_of().settings.is_prod,
        )
    if request.endpoint != "staff.static":
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def current_staff(*, changing: bool = False) -> StaffMember | None:
    """The signed-in staff member, or None (a dead session is dropped from the cookie).

    `changing`: the request is about to change something, so the holder's
    rights are confirmed now (RightsUnconfirmed when Fabman cannot say).
    """
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return None
    staff = bridge_of().staff_access.session(session_id, changing=changing)
    if staff is None:
        session.pop("sid", None)
    return staff


def sign_in_url(*, ended: bool = False) -> str:
    """The sign-in page, remembering the page asked for (GET only: a form's POST cannot be repeated)."""
    wanted = None
    if request.method == "GET" and request.path != url_for("staff.overview"):
        query = request.query_string.decode("utf-8", "replace")
        wanted = safe_next(request.path + (f"?{query}" if query else ""))
    arguments: dict[str, Any] = {"next": wanted, "ended": 1 if ended else None}
    return url_for("staff.login", **{k: v for k, v in arguments.items() if v is not None})


def safe_next(value: str | None) -> str | None:
    """A page of the console to go to after signing in; anything else (another site, `//host`) is dropped."""
    if not value or len(value) > 500 or any(c in value for c in "\\\r\n\t"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/staff/") or value.startswith("//"):
        return None
    return value


# -- language -----------------------------------------------------------------------


def _language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        g.lang_chosen = asked
        return asked
    kept = request.cookies.get(LANGUAGE_COOKIE)
    if kept in LANGUAGES:
        return kept
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def t(key: str, **values: Any) -> str:
    """The text of `key` in the page's language."""
    return translate(g.get("lang", DEFAULT_LANGUAGE), key, **values)


def language_url(code: str) -> str:
    """This page in another language (the sign-in link page switches on the sign-in form instead)."""
    if request.endpoint == "staff.use_link" or request.method != "GET" or request.endpoint is None:
        return url_for("staff.login", lang=code)
    arguments = {key: value for key, value in request.args.items() if key != "lang"}
    return f"{request.path}?{urlencode({**arguments, 'lang': code})}"


def page_url(number: int) -> str:
    """This list at another page, its filters kept."""
    arguments = {key: value for key, value in request.args.items() if key not in ("page", "lang")}
    return f"{request.path}?{urlencode({**arguments, 'page': number})}"


@blueprint.app_template_filter("local_moment")
def _local_moment(moment: dt.datetime | str | None) -> str:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return format_moment(g.get("lang", DEFAULT_LANGUAGE), moment, bridge_of().settings.tz)


@blueprint.app_template_filter("local_date")
def _local_date(day: dt.date | None) -> str:
    return format_date(g.get("lang", DEFAULT_LANGUAGE), day)


@blueprint.context_processor
def page_context() -> dict[str, Any]:
    """What every console template may use."""
    return {
        "lang": g.get("lang", DEFAULT_LANGUAGE),
        "languages": LANGUAGES,
        "t": t,
        "language_url": language_url,
        "page_url": page_url,
        "staff": g.get("staff"),
        "fablab_name": bridge_of().deps.renderer.fablab_name,
    }


# -- errors ----------------------------------------------------------------------------


def wants_html() -> bool:
    """A browser asks for HTML first; scripts and tests asking for anything get problem details."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def error_page(status: int, key: str, **values: Any) -> ResponseReturnValue:
    """An error as a page for browsers, as problem details for everyone else."""
    if wants_html():
        return make_response(render_template("staff/error.html", status=status, message=t(key, **values)), status)
    title = HTTP_STATUS_CODES.get(status, "Error")
    return problem_response(status, title, translate("en", key, **values), title.lower().replace(" ", "-"))


@blueprint.errorhandler(CSRFError)
def _csrf_failed(_error: CSRFError) -> ResponseReturnValue:
    return error_page(400, "error.csrf")


@blueprint.errorhandler(BridgeError)
def _bridge_error(error: BridgeError) -> ResponseReturnValue:
    if error.status == 404:
        return error_page(404, "error.not_found")
    field = error.extra.get("field")
    return error_page(error.status, "error.bad_input", field=field or error.detail)


@blueprint.errorhandler(404)
def _not_found(_error: HTTPException) -> ResponseReturnValue:
    return error_page(404, "error.not_found")
