"""Who may call what: the API key of the profile/admin endpoints and the cron token.

Secrets are compared with :func:`hmac.compare_digest` (constant time), after
both sides are encoded, so a wrong key of any length takes the same path.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from bridge.application import bridge_of
from bridge.errors import ServiceNotConfigured, Unauthorized
from bridge.web.openapi import secured

View = TypeVar("View", bound=Callable[..., Any])


def secrets_match(given: str | None, expected: str | None) -> bool:
    """Constant-time equality that is False when either side is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _strip_bearer(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


def require_api_key(view: View) -> View:
    """Allow callers whose `Authorization` is the Fabman API key (with or without `Bearer `)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        expected = _strip_bearer(bridge_of().settings.fabman_api_key)
        if not secrets_match(_strip_bearer(request.headers.get("Authorization")), expected):
            raise Unauthorized("the Authorization header must carry the bridge's Fabman API key")
        return view(*args, **kwargs)

    secured(wrapper, "FabmanApiKey")
    return wrapper  # type: ignore[return-value]


def require_cron_token(view: View) -> View:
    """Allow the scheduler: `CronjobToken` must equal CRONJOB_TOKEN; 503 while none is set."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        expected = bridge_of().settings.cronjob_token
        if not expected:
            raise ServiceNotConfigured("CRONJOB_TOKEN is not set, so cron endpoints are disabled")
        if not secrets_match(request.headers.get("CronjobToken"), expected):
            raise Unauthorized("the CronjobToken header is missing or wrong")
        return view(*args, **kwargs)

    secured(wrapper, "CronjobToken")
    return wrapper  # type: ignore[return-value]
