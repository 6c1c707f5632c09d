"""Request ids, one-line logs, `Server-Timing` and security headers.

Fabman calls are reported by the client's observer into the current request,
so `Server-Timing` shows the total and each upstream call (TRACK_TIME=true).

No log line carries a secret from a URL: the bridge's own request line logs
the path without its query, and every record that reaches the bridge's
handler, or werkzeug's request log of the development server, has the
values of `token=` and `cm_user_id=` blanked (sign-in links, Fabman's
webhook URL, quiz links). Under BE_ENV=prod every answer carries
`Strict-Transport-Security`.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

log = logging.getLogger("bridge.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
SWAGGER_UI_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Swagger UI's page may load and call only this bridge (its own styles set inline styles, nothing else is inline)."""


URL_SECRET = re.compile(r"((?:[?&;]|\b)(?:token|cm_user_id)=)[^&\s\"';]+", re.IGNORECASE)
"""A secret as a URL carries it: the value of `token=` or `cm_user_id=` in a query string."""
HSTS = "max-age=31536000; includeSubDomains"


def without_url_secrets(text: str) -> str:
    """The text with every `token=`/`cm_user_id=` value of a URL replaced by `[redacted]`."""
    return URL_SECRET.sub(r"\1[redacted]", text)


class UrlSecretFilter(logging.Filter):
    """Blank the secrets of URLs in a log record before any handler writes it (werkzeug logs whole request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message and URL_SECRET.search(message):
            record.msg, record.args = without_url_secrets(message), None
        return True


class RequestIdFilter(logging.Filter):
    """Stamp every log record with the current request id ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """One line per event on stdout, each with the request id; set up once per process."""
    root = logging.getLogger()
    if any(getattr(h, "_bridge", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(UrlSecretFilter())
    handler._bridge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # The development server logs each request line (query string included) on its own logger, and may give
    # that logger a handler of its own: the filter sits on the logger, so every handler gets the blanked line.
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, UrlSecretFilter) for f in werkzeug.filters):
        werkzeug.addFilter(UrlSecretFilter())


def record_upstream_call(method: str, path: str, status: int | None, seconds: float) -> None:
    """Fabman client observer: remember each call for Server-Timing and the log."""
    if has_request_context():
        g.setdefault("upstream_calls", []).append((method, status, seconds))
    logging.getLogger("bridge.fabman").debug("%s %s -> %s in %.1f ms", method, path, status, seconds * 1000)


def register_observability(app: Flask, *, track_time: bool, hsts: bool = False) -> None:
    """Install the request hooks (`hsts`: production, served over https by its proxy)."""

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        calls = g.get("upstream_calls", [])
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        if track_time:
            parts = [f"total;dur={elapsed * 1000:.1f}"]
            parts += [f'fabman{i};desc="{m} {s}";dur={d * 1000:.1f}' for i, (m, s, d) in enumerate(calls, 1)]
            response.headers["Server-Timing"] = ", ".join(parts)
        _security_headers(response)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        log.info(
            "%s %s -> %s in %.1f ms (%d Fabman calls)",
            request.method,
            request.path,
            response.status_code,
            elapsed * 1000,
            len(calls),
        )
        return response


def _security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith(("/apidocs", "/flasgger_static")):
        headers.setdefault("Content-Security-Policy", SWAGGER_UI_POLICY)
    else:
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        headers.setdefault("Cache-Control", "no-store")
