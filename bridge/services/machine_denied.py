"""Fabman's webhook (contract section 13): refused at a machine, the quiz link arrives.

Every event is stored once by Fabman's `id` before the answer (Fabman
re-sends; late and repeated events are normal). The one the bridge acts on, a
member denied at a machine for lack of training, is handled after the answer
is out: the online courses that unlock the equipment and that the member may
take (section 3: visible to them, not held active) go to the member in one
mail, with the personal quiz link of each, or what to do instead when they
are out of attempts or waiting after a failed one (section 12). At most one
such mail per member and equipment in 7 days, by the app's clock; the mail
goes through the outbox.

Handling that fails (Fabman unreachable) leaves the event `failed`;
:func:`retry` tries it again, at most `MAX_HANDLING_ATTEMPTS` times.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from bridge.adapters.fabman import FabmanError, FabmanNotFound
from bridge.adapters.store.rules import FabmanEvent
from bridge.domain import courses
from bridge.domain.fabman_events import MEMBER_DELETED, FabmanWebhookEvent, parse_event
from bridge.services import mails, privacy, renewals
from bridge.services.deps import Deps

log = logging.getLogger(__name__)

OFFER_WINDOW = dt.timedelta(days=7)
MAX_HANDLING_ATTEMPTS = 5


def receive(deps: Deps, body: bytes, payload: Any) -> tuple[dict[str, Any], int | None]:
    """Store an event once; the answer, and the stored event to handle after answering (or None).

    Raises :class:`bridge.domain.fabman_events.InvalidFabmanEvent` (nothing stored) for a body
    that is not an event.
    """
    event = parse_event(payload)
    to_handle = event.is_machine_denial or event.is_member_deletion or event.is_machine_use
    row, created = deps.store.receive_fabman_event(
        event_key=event.key,
        event_type=event.type,
        status="received" if to_handle else "ignored",
        outcome=None if to_handle else ("test" if event.is_test else "not_used"),
        member_id=event.member_id,
        resource_id=event.resource_id,
        occurred_at=event.occurred_at,
        payload=body.decode("utf-8", "replace"),
    )
    answer = {"id": event.key, "type": event.type}
    if not created:
        log.info("Fabman event %s (%s) delivered again; stored as %s", event.key, event.type, row.status)
        return {"status": "duplicate", **answer, "detail": f"already received; it is {row.status}"}, None
    if event.is_test:
        return {"status": "ok", **answer, "detail": "test event received"}, None
    if not to_handle:
        return {"status": "ignored", **answer, "detail": _why_ignored(event)}, None
    if event.is_member_deletion:
        log.info("Fabman event %s: member %s deleted", event.key, event.member_id)
        return {"status": "stored", **answer, "detail": "member deleted; erased here once Fabman confirms it"}, row.id
    if event.is_machine_use:
        log.info("Fabman event %s: member %s used equipment %s", event.key, event.member_id, event.resource_id)
        return {"status": "stored", **answer, "detail": renewals.STORED_DETAIL}, row.id
    log.info("Fabman event %s: member %s denied at equipment %s", event.key, event.member_id, event.resource_id)
    return {"status": "stored", **answer, "detail": "denied at a machine; the member is offered the training"}, row.id


def _why_ignored(event: FabmanWebhookEvent) -> str:
    if event.type != "resourceLog_created":
        return f"events of type {event.type} are not used by the bridge"
    return "only permitted uses and denials for lack of training (denied, noPermission) of a known member are used"


def handle(deps: Deps, event_id: int) -> str | None:
    """Handle one stored denial unless another worker holds it; its outcome (None when not claimed)."""
    row = deps.store.claim_fabman_event(event_id, deps.settings.lease_seconds)
    if row is None:
        return None
    try:
        if row.type == MEMBER_DELETED:
            outcome = privacy.erase_on_event(deps, row)
        elif renewals.is_use(row):
            outcome = renewals.renew_after_use(deps, row)
        else:
            outcome = _offer_training(deps, row)
    except FabmanError as error:
        log.warning("Fabman event %s not handled yet (attempt %s): %s", row.event_key, row.attempts, error)
        deps.store.finish_fabman_event(row.id, "failed", None, str(error))
        return "failed"
    except Exception as error:
        log.exception("Fabman event %s failed unexpectedly", row.event_key)
        deps.store.finish_fabman_event(row.id, "failed", None, f"{type(error).__name__}: {error}")
        return "failed"
    deps.store.finish_fabman_event(row.id, "handled", outcome)
    log.info("Fabman event %s handled: %s", row.event_key, outcome)
    deps.sender.wake()
    return outcome


def retry(deps: Deps) -> dict[str, int]:
    """Handle denials still waiting (their handling failed or was cut off); counts per outcome."""
    summary: dict[str, int] = {}
    for event_id in deps.store.fabman_events_to_handle(max_attempts=MAX_HANDLING_ATTEMPTS):
        outcome = handle(deps, event_id)
        if outcome is not None:
            summary[outcome] = summary.get(outcome, 0) + 1
    return summary


def _offer_training(deps: Deps, row: FabmanEvent) -> str:
    """Mail the member the courses that unlock the equipment; the outcome for the store."""
    assert row.member_id is not None and row.resource_id is not None  # only denials of a member are handled
    try:
        member = deps.fabman.get_member(row.member_id, trainings=True, privileges=True)
    except FabmanNotFound:
        return "unknown_member"
    unlocking = [
        course
        for course in deps.fabman.courses().values()
        if row.resource_id in course.resources and courses.is_online(course) and courses.visible_to(course, member)
    ]
    if not unlocking:
        return "no_online_course"
    held = courses.active_course_ids(member.trainings or (), deps.today())
    offered = sorted((course for course in unlocking if course.id not in held), key=lambda course: course.title.casefold())
    if not offered:
        return "already_trained"
    if not member.email:
        return "no_address"
    try:
        equipment = deps.fabman.get_equipment(row.resource_id)  # its name from Fabman, never from the unsigned body
    except FabmanNotFound:
        return "unknown_equipment"
    name = equipment.name or f"#{equipment.id}"
    messages = mails.machine_denied(deps, member, name, offered, key=f"machine:{member.id}:{row.resource_id}:{row.event_key}")
    queued = deps.store.offer_machine_mail(member.id, row.resource_id, messages, window=OFFER_WINDOW, event_id=row.id)
    return "mailed" if queued else "mailed_recently"
