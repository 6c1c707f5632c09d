"""FabLab Bridge: Fabman trainings from ClassMarker quizzes.

:func:`create_app` wires the bridge from its settings in short named steps:
adapters first, then the web layer, error handlers, docs and CLI commands.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_cors import CORS
from flask_mail import Mail
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient
from bridge.adapters.mail import DiscordTransport, MailRenderer, Outbox, SmtpTransport
from bridge.adapters.signing import signing_key
from bridge.adapters.store import Store
from bridge.application import EXTENSION_KEY, Bridge
from bridge.clock import Clock, SystemClock
from bridge.config import Settings, default_database_url, load_settings
from bridge.domain.statuses import Channel
from bridge.web import register_blueprints
from bridge.web.docs import register_docs
from bridge.web.observability import configure_logging, record_upstream_call, register_observability
from bridge.web.problems import register_errorhandlers

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, *, migrate: bool = True, clock: Clock | None = None) -> Flask:
    """Build a bridge; settings come from the environment (and `.env`) unless given; tests may pass a clock."""
    if settings is None:
        from dotenv import load_dotenv

        load_dotenv()
        settings = load_settings()
    app = Flask(__name__, instance_relative_config=False)
    configure_app(app, settings)
    register_proxies(app, settings.trusted_proxies)
    configure_logging()
    register_extensions(app, settings, migrate=migrate, clock=clock or SystemClock())
    register_observability(app, track_time=settings.track_time, hsts=settings.is_prod)
    register_blueprints(app)
    register_errorhandlers(app)
    register_cors(app, settings.cors_origins)
    register_docs(app)
    register_commands(app)
    return app


def configure_app(app: Flask, settings: Settings) -> None:
    """Flask's own settings, derived from ours."""
    if settings.is_prod:
        # `flask run` and `app.run()` read FLASK_DEBUG only after the app is built; in production it
        # must never turn on the Werkzeug debugger (an interactive console) or the reloader.
        os.environ.pop("FLASK_DEBUG", None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        DEBUG=False if settings.is_prod else app.config["DEBUG"],
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAIL_SERVER=settings.mail_server,
        MAIL_PORT=settings.mail_port,
        MAIL_USERNAME=settings.mail_username,
        MAIL_PASSWORD=settings.mail_password,
        MAIL_USE_TLS=settings.mail_use_tls,
        MAIL_USE_SSL=settings.mail_use_ssl,
        MAIL_DEFAULT_SENDER=settings.mail_default_sender or "fablab-bridge@localhost",
        MAIL_SUPPRESS_SEND=settings.mail_suppress_send,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]


def register_proxies(app: Flask, trusted: int) -> None:
    """Believe `X-Forwarded-For`/`-Proto` only as deep as TRUSTED_PROXIES reverse proxies (0: not at all).

    Each trusted proxy appends the address it saw; werkzeug's ProxyFix takes
    the entry `trusted` places from the right, so a client's own entries in
    front of it never decide its address (the sign-in rate limit counts it).
    """
    if trusted > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted, x_proto=trusted)  # type: ignore[method-assign]


def register_extensions(app: Flask, settings: Settings, *, migrate: bool, clock: Clock) -> None:
    """Build each adapter once, and the one application object that uses them."""
    store = Store(settings.database_url or default_database_url(app.instance_path), clock=clock)
    if migrate:
        store.migrate()
    fabman = FabmanClient(
        settings.fabman_api_url,
        settings.fabman_authorization,
        timeout=settings.fabman_timeout_seconds,
        courses_cache_seconds=settings.courses_cache_seconds,
        observer=record_upstream_call,
        sleep=clock.sleep,
    )
    Mail(app)
    outbox = Outbox(
        store,
        {
            Channel.MAIL: (smtp := SmtpTransport(app, settings.mail_timeout_seconds)),
            Channel.ALERT_MAIL: smtp,
            Channel.DISCORD: DiscordTransport(settings.discord_webhook_url, settings.mail_timeout_seconds),
        },
        max_age_hours=settings.retry_max_age_hours,
        lease_seconds=settings.lease_seconds,
        retry_base_seconds=settings.retry_base_seconds,
    )
    renderer = MailRenderer(
        fablab_name=settings.fablab_name,
        support_email=settings.fablab_support_email,
        alert_discord=bool(settings.discord_webhook_url),
    )
    app.extensions[EXTENSION_KEY] = Bridge(
        settings,
        store=store,
        fabman=fabman,
        codec=CmUserIdCodec(settings.fernet_keys, now=clock.now),
        renderer=renderer,
        outbox=outbox,
        clock=clock,
        evidence_key=signing_key(settings.evidence_signing_key, app.instance_path),
    )


def register_cors(app: Flask, origins: tuple[str, ...]) -> None:
    """Let browsers on the listed origins call the API; with none listed, no CORS header is ever sent."""
    if not origins:
        return
    CORS(
        app,
        origins=list(origins),
        allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
        expose_headers=["X-Request-Id", "Server-Timing"],
        methods=["GET", "POST"],
        max_age=600,
    )


def register_commands(app: Flask) -> None:
    """The `flask` CLI commands for staff and cron."""
    from bridge.cli import commands

    for command in commands:
        app.cli.add_command(command)
