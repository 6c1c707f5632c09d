"""Fabman's webhook events (contract section 13), read once into a typed value.

Fabman POSTs `{"id", "type", "createdAt", "details"}` and signs nothing; it
re-sends and delivers late, so the `id` is what makes an event the same
event. The bridge acts on one kind: an activity log entry saying a member was
denied at a machine for lack of training (`resourceLog_created`,
`details.log.type == "denied"`, `reason == "noPermission"`), and one use of
a machine that Fabman permitted (`details.log.type == "allowed"`), which
renews trainings of courses that live on use (section 15).

Nothing signs these events, so the body is a hint, not a source of text: it
says which member was refused at which machine, and the bridge asks Fabman's
API for their names. Its ids must be Fabman ids (positive, below 2^53);
anything else is refused with a 400, never stored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bridge.domain.calendar import parse_moment
from bridge.domain.models import FABMAN_ID_LIMIT

TEST = "test"
RESOURCE_LOG_CREATED = "resourceLog_created"
DENIED = "denied"
ALLOWED = "allowed"
NO_PERMISSION = "noPermission"
MEMBER_DELETED = "member_deleted"
NAME = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
"""What an event id (as text) and an event type may be: they are stored and logged."""


class InvalidFabmanEvent(ValueError):
    """The body is not a Fabman webhook event."""


@dataclass(frozen=True)
class FabmanWebhookEvent:
    """What the bridge reads from one event."""

    key: str
    type: str
    occurred_at: dt.datetime | None
    member_id: int | None
    resource_id: int | None
    log_type: str | None
    reason: str | None

    @property
    def is_test(self) -> bool:
        """Staff pressed "test" in Fabman."""
        return self.type == TEST

    @property
    def is_machine_denial(self) -> bool:
        """A member was refused at a machine because they lack its training."""
        return (
            self.type == RESOURCE_LOG_CREATED
            and self.log_type == DENIED
            and self.reason == NO_PERMISSION
            and self.member_id is not None
            and self.resource_id is not None
        )

    @property
    def is_machine_use(self) -> bool:
        """A member used a machine with Fabman's permission (renews trainings that live on use)."""
        return (
            self.type == RESOURCE_LOG_CREATED
            and self.log_type == ALLOWED
            and self.member_id is not None
            and self.resource_id is not None
        )

    @property
    def is_member_deletion(self) -> bool:
        """Fabman says a member was deleted (a hint: Fabman is asked before anything is erased, section 17)."""
        return self.type == MEMBER_DELETED and self.member_id is not None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any, name: str) -> int | None:
    """An id given as a number, a digit string or an object with an `id`; None when there is none.

    A number outside Fabman's range (positive, below 2^53) is not an id of
    Fabman's: InvalidFabmanEvent naming the field.
    """
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        value = int(value.strip())
    if not isinstance(value, int):
        return None
    if not 0 < value < FABMAN_ID_LIMIT:
        raise InvalidFabmanEvent(f"{name} is outside Fabman's id range (a positive integer below 2^53)")
    return value


def parse_event(payload: Any) -> FabmanWebhookEvent:
    """Type a decoded webhook body; InvalidFabmanEvent when it has no usable `id` and `type`."""
    if not isinstance(payload, dict):
        raise InvalidFabmanEvent("the body must be a JSON object")
    raw_id = payload.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
        raise InvalidFabmanEvent("id is missing")
    key = str(raw_id).strip()
    if not NAME.fullmatch(key.lstrip("-")):
        raise InvalidFabmanEvent("id is not an event id (a number, or up to 80 letters, digits and _.:-)")
    if isinstance(raw_id, int) or key.lstrip("-").isdigit():
        key = str(_id(int(key), "id"))
    event_type = payload.get("type")
    if not isinstance(event_type, str) or not NAME.fullmatch(event_type.strip()):
        raise InvalidFabmanEvent("type is missing or not an event type")
    details = _object(payload.get("details"))
    entry = _object(details.get("log"))
    resource = _object(details.get("resource"))
    return FabmanWebhookEvent(
        key=key,
        type=event_type.strip(),
        occurred_at=parse_moment(payload.get("createdAt")),
        member_id=_id(entry.get("member"), "details.log.member") or _id(details.get("member"), "details.member"),
        resource_id=_id(entry.get("resource"), "details.log.resource") or _id(resource, "details.resource"),
        log_type=entry.get("type") if isinstance(entry.get("type"), str) else None,
        reason=entry.get("reason") if isinstance(entry.get("reason"), str) else None,
    )
