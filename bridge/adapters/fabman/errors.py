"""What can go wrong talking to Fabman, as the callers need to tell it apart.

`retryable` says whether the same call may succeed later (the webhook queues
such results); the web layer maps these to 404/502/503/504.
"""

from __future__ import annotations


class FabmanError(Exception):
    """Base of every Fabman failure."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class FabmanNotFound(FabmanError):
    """404: the member, course or record does not exist."""


class FabmanConflict(FabmanError):
    """409: the `lockVersion` sent is stale; re-read, merge and retry."""


class FabmanRejected(FabmanError):
    """400/401/403/415: Fabman refused the request as made; retrying will not help."""


class FabmanUnavailable(FabmanError):
    """5xx, 429 or no connection: Fabman may answer later."""

    retryable = True


class FabmanTimeout(FabmanUnavailable):
    """No answer within the read timeout."""


class FabmanRateLimited(FabmanUnavailable):
    """429 for longer than the caller may wait: `retry_after` is how long Fabman asked for (2 s when it did not say)."""

    def __init__(self, message: str, *, retry_after: float, method: str = "", path: str = "") -> None:
        super().__init__(message, status=429, method=method, path=path)
        self.retry_after = retry_after
