"""What can go wrong reading ClassMarker: a webhook body that is no result, and the API's failures.

ClassMarker's API reports errors in the body (`status`), not as HTTP codes,
and reconciliation needs to tell them apart. Every error's message is safe to
log and store: it never holds the API key, the secret, the signature or a URL
carrying them.
"""

from __future__ import annotations


class InvalidResult(ValueError):
    """A webhook body that is not a ClassMarker result the bridge understands (the webhook answers 400)."""


class ClassMarkerError(Exception):
    """Base of every failure; `reason` is a short word for summaries (`request_limit_reached`, `error`, ...)."""

    reason = "failed"


class ClassMarkerUnavailable(ClassMarkerError):
    """No connection, no answer in time, an HTTP error without a readable body: ClassMarker may answer later."""

    reason = "unavailable"


class ClassMarkerRateLimited(ClassMarkerError):
    """`request_limit_reached`: the API key used up ClassMarker's own hourly allowance."""

    reason = "request_limit_reached"


class ClassMarkerRefused(ClassMarkerError):
    """`status: error`: ClassMarker refused the request (bad key or signature, clock skew, bad parameter)."""

    reason = "error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"ClassMarker refused the request: {code}: {message}" if message else f"ClassMarker refused: {code}")
        self.code = code
        self.message = message


class ClassMarkerBadAnswer(ClassMarkerError):
    """An answer the client cannot read (not JSON, an unknown status, paging that does not move on)."""

    reason = "bad_answer"


class RequestBudgetSpent(ClassMarkerError):
    """The bridge's own hourly request budget is used up; no request was made."""

    reason = "budget"
