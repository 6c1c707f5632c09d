"""The typed client of ClassMarker's results API, its results and its exceptions."""

from bridge.adapters.classmarker.client import MAX_LIMIT, ClassMarkerClient, signature
from bridge.adapters.classmarker.errors import (
    ClassMarkerBadAnswer,
    ClassMarkerError,
    ClassMarkerRateLimited,
    ClassMarkerRefused,
    ClassMarkerUnavailable,
    RequestBudgetSpent,
)
from bridge.adapters.classmarker.wire import LinkResult, ResultsPage

__all__ = [
    "MAX_LIMIT",
    "ClassMarkerBadAnswer",
    "ClassMarkerClient",
    "ClassMarkerError",
    "ClassMarkerRateLimited",
    "ClassMarkerRefused",
    "ClassMarkerUnavailable",
    "LinkResult",
    "RequestBudgetSpent",
    "ResultsPage",
    "signature",
]
