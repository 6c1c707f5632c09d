"""The typed Fabman API client, its models and its exceptions."""

from bridge.adapters.fabman.client import FabmanClient
from bridge.adapters.fabman.errors import (
    FabmanConflict,
    FabmanError,
    FabmanNotFound,
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
    "FabmanRejected",
    "FabmanTimeout",
    "FabmanUnavailable",
    "Member",
    "TrainingRecord",
]
