"""ClassMarker: the typed client of its results API, the one reader of its result JSON, and their exceptions."""

from bridge.adapters.classmarker.client import MAX_LIMIT, ClassMarkerClient, signature
from bridge.adapters.classmarker.errors import (
    ClassMarkerBadAnswer,
    ClassMarkerError,
    ClassMarkerRateLimited,
    ClassMarkerRefused,
    ClassMarkerUnavailable,
    InvalidResult,
    RequestBudgetSpent,
)
from bridge.adapters.classmarker.wire import LinkResult, ResultsPage, parse_delivery

__all__ = [
    "MAX_LIMIT",
    "ClassMarkerBadAnswer",
    "ClassMarkerClient",
    "ClassMarkerError",
    "ClassMarkerRateLimited",
    "ClassMarkerRefused",
    "ClassMarkerUnavailable",
    "InvalidResult",
    "LinkResult",
    "RequestBudgetSpent",
    "ResultsPage",
    "parse_delivery",
    "signature",
]
