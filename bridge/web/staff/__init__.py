"""The staff console: `/staff/` in the browser (contract section 9).

Server-rendered pages (Jinja, one stylesheet, no JavaScript) over the same use
cases as the admin endpoints and the CLI. `register_staff` sets what the
console needs from Flask: the session cookie (signed, HttpOnly, SameSite=Lax,
Secure in production, only sent to `/staff`), CSRF protection (Flask-WTF),
checked by the console's own hook so the JSON API is untouched, and the
blueprint. The pieces: :mod:`.session` (who is signed in, language, the
guard), :mod:`.sign_in`, :mod:`.pages`, :mod:`.i18n`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask import Flask

from bridge.application import bridge_of
from bridge.web.staff import pages, sign_in
from bridge.web.staff.session import blueprint, csrf

log = logging.getLogger(__name__)

__all__ = ["blueprint", "pages", "register_staff", "sign_in"]


def register_staff(app: Flask) -> None:
    """Mount the console with its cookie and CSRF settings."""
    settings = bridge_of(app).settings
    if not app.config.get("SECRET_KEY"):
        # Development without SECRET_KEY (production requires it): sessions last as long as this process.
        log.warning("SECRET_KEY is not set: staff console sessions end when this process stops")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    session_lifetime = dt.timedelta(hours=settings.staff_session_hours)
    app.config.update(
        SESSION_COOKIE_NAME="fablab_staff",
        SESSION_COOKIE_PATH="/staff",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_prod,
        PERMANENT_SESSION_LIFETIME=session_lifetime,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=int(session_lifetime.total_seconds()),
        # The token and SameSite=Lax decide; the bridge sends `Referrer-Policy: no-referrer`, so no Referer is there to check.
        WTF_CSRF_SSL_STRICT=False,
    )
    csrf.init_app(app)
    app.register_blueprint(blueprint)
