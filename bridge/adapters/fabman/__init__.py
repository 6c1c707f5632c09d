"""The typed Fabman API client, its models and its exceptions."""

from bridge.adapters.fabman.client import FabmanClient, RateGate
from bridge.adapters.fabman.errors import (
    FabmanConflict,
    FabmanError,
    FabmanNotFound,
    FabmanRateLimited,
    FabmanRejected,
    FabmanTimeout,
    FabmanUnavailable,
)
from bridge.domain.models import Course, Member, TrainingRecord

__all__ = [
    "Course",
    "FabmanClient",
    "FabmanConflict",
    "FabmanError",
    "FabmanNotFound",
    "FabmanRateLimited",
    "FabmanRejected",
    "FabmanTimeout",
    "FabmanUnavailable",
    "Member",
    "RateGate",
    "TrainingRecord",
]
