"""The project's exception tree.

Each error carries its HTTP status and title; :mod:`bridge.web.problems` renders
them, and every other error, as RFC 9457 problem details.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Base of every error the web layer turns into a problem response."""

    status: int = 500
    title: str = "Internal error"
    slug: str = "internal-error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class BadRequest(BridgeError):
    status, title, slug = 400, "Bad request", "bad-request"


class ValidationFailed(BridgeError):
    status, title, slug = 422, "Invalid field", "invalid-field"


class Unauthorized(BridgeError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class NotFound(BridgeError):
    status, title, slug = 404, "Not found", "not-found"


class ServiceNotConfigured(BridgeError):
    status, title, slug = 503, "Not configured", "not-configured"


class JobRunning(BridgeError):
    """The job is running elsewhere (another worker or instance) and did not finish while the caller waited."""

    status, title, slug = 409, "Job running", "job-running"


class Conflict(BridgeError):
    status, title, slug = 409, "Conflict", "conflict"
