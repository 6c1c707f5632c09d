"""The one error shape: RFC 9457 problem details for every error response.

Project errors, Fabman failures, Werkzeug's 404/405 and anything unexpected all
leave through :func:`problem_response`, so clients parse one shape and never
see a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from bridge.adapters.fabman import FabmanError, FabmanNotFound, FabmanTimeout, FabmanUnavailable
from bridge.answers import answer, described, to_json
from bridge.errors import BridgeError

log = logging.getLogger(__name__)

PROBLEM_BASE = "urn:fablab-bridge:problem:"


@answer
class Problem:
    """RFC 9457 problem details: what went wrong, for every error answer."""

    type: str = described("urn:fablab-bridge:problem:not-found")
    title: str = described("Not found")
    status: int = described(404)
    detail: str = described("member 999 does not exist in Fabman")
    request_id: str | None = described("4f1c2a9b0d3e4f5a", "The request's id, as in the log and `X-Request-Id`.", omit_none=True)
    field: str | None = described(None, "The field or query parameter at fault.", omit_none=True)


def problem_response(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    """Build the problem-details response every error uses (`extra`: more members, e.g. `field`, `allowed`)."""
    problem = Problem(
        type=PROBLEM_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        request_id=g.get("request_id") or None,
        field=extra.pop("field", None),
    )
    body: dict[str, Any] = to_json(problem)
    body.update(to_json(extra))
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def register_errorhandlers(app: Flask) -> None:
    """Route every error, expected or not, to the one problem shape."""

    @app.errorhandler(BridgeError)
    def _bridge_error(error: BridgeError) -> Response:
        if error.status >= 500:
            log.warning("request failed: %s (%s)", error.title, error.detail)
        return problem_response(error.status, error.title, error.detail, error.slug, **error.extra)

    @app.errorhandler(FabmanError)
    def _fabman_error(error: FabmanError) -> Response:
        log.warning("fabman failure: %s", error)
        if isinstance(error, FabmanNotFound):
            return problem_response(404, "Not found", "Fabman does not know the requested record.", "not-found")
        if isinstance(error, FabmanTimeout):
            return problem_response(
                504, "Fabman timed out", "Fabman did not answer in time; try again shortly.", "upstream-timeout"
            )
        if isinstance(error, FabmanUnavailable) and error.status not in (None, 429, 503):
            return problem_response(
                502, "Fabman error", f"Fabman failed (status {error.status}); try again shortly.", "upstream-error"
            )
        if isinstance(error, FabmanUnavailable):
            return problem_response(
                503, "Fabman unavailable", "Fabman is not reachable or is overloaded; try again shortly.", "upstream-unavailable"
            )
        return problem_response(
            502, "Fabman error", f"Fabman refused the bridge's request (status {error.status}).", "upstream-error"
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        slug = (error.name or "error").lower().replace(" ", "-")
        response = problem_response(status, error.name or "Error", error.description or "", slug)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return problem_response(
            500, "Internal error", "An unexpected error occurred; staff were notified in the logs.", "internal-error"
        )
