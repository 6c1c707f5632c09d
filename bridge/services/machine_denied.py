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
from collections import Counter
from typing import Any, NamedTuple

from bridge.adapters.fabman import FabmanError, FabmanNotFound
from bridge.adapters.store.rules import FabmanEvent
from bridge.answers import answer, described
from bridge.domain import courses
from bridge.domain.fabman_events import MEMBER_DELETED, FabmanWebhookEvent, parse_event
from bridge.domain.statuses import FabmanEventStatus, FabmanOutcome, FabmanReceiptStatus
from bridge.services import mails, privacy, renewals
from bridge.services.deps import Deps

log = logging.getLogger(__name__)

OFFER_WINDOW = dt.timedelta(days=7)
MAX_HANDLING_ATTEMPTS = 5


@answer
class FabmanEventReceipt:
    """Fabman's answer: the event stored once by its id (or why nothing more happens)."""

    status: FabmanReceiptStatus = described(FabmanReceiptStatus.STORED)
    id: str = described("80001", "Fabman's event id.")
    type: str = described("resourceLog_created")
    detail: str = described("denied at a machine; the member is offered the training")


class FabmanReceived(NamedTuple):
    """Fabman's answer, and the stored event to handle once it is out (None: nothing to handle)."""

    receipt: FabmanEventReceipt
    to_handle: int | None = None


def receive(deps: Deps, body: bytes, payload: Any) -> FabmanReceived:
    """Store an event once; the answer, and the stored event to handle after answering (or None).

    Raises :class:`bridge.domain.fabman_events.InvalidFabmanEvent` (nothing stored) for a body
    that is not an event.
    """
    event = parse_event(payload)
    to_handle = event.is_machine_denial or event.is_member_deletion or event.is_machine_use
    row, created = deps.store.rules.receive_fabman_event(
        event_key=event.key,
        event_type=event.type,
        status=FabmanEventStatus.RECEIVED if to_handle else FabmanEventStatus.IGNORED,
        outcome=None if to_handle else (FabmanOutcome.TEST if event.is_test else FabmanOutcome.NOT_USED),
        member_id=event.member_id,
        resource_id=event.resource_id,
        occurred_at=event.occurred_at,
        payload=body.decode("utf-8", "replace"),
    )

    def receipt(status: FabmanReceiptStatus, detail: str) -> FabmanEventReceipt:
        return FabmanEventReceipt(status=status, id=event.key, type=event.type, detail=detail)

    if not created:
        log.info("Fabman event %s (%s) delivered again; stored as %s", event.key, event.type, row.status)
        return FabmanReceived(receipt(FabmanReceiptStatus.DUPLICATE, f"already received; it is {row.status}"))
    if event.is_test:
        return FabmanReceived(receipt(FabmanReceiptStatus.OK, "test event received"))
    if not to_handle:
        return FabmanReceived(receipt(FabmanReceiptStatus.IGNORED, _why_ignored(event)))
    if event.is_member_deletion:
        log.info("Fabman event %s: member %s deleted", event.key, event.member_id)
        return FabmanReceived(receipt(FabmanReceiptStatus.STORED, "member deleted; erased here once Fabman confirms it"), row.id)
    if event.is_machine_use:
        log.info("Fabman event %s: member %s used equipment %s", event.key, event.member_id, event.resource_id)
        return FabmanReceived(receipt(FabmanReceiptStatus.STORED, renewals.STORED_DETAIL), row.id)
    log.info("Fabman event %s: member %s denied at equipment %s", event.key, event.member_id, event.resource_id)
    return FabmanReceived(receipt(FabmanReceiptStatus.STORED, "denied at a machine; the member is offered the training"), row.id)


def _why_ignored(event: FabmanWebhookEvent) -> str:
    if event.type != "resourceLog_created":
        return f"events of type {event.type} are not used by the bridge"
    return "only permitted uses and denials for lack of training (denied, noPermission) of a known member are used"


def handle(deps: Deps, event_id: int) -> FabmanOutcome | None:
    """Handle one stored denial unless another worker holds it; its outcome (None when not claimed)."""
    row = deps.store.rules.claim_fabman_event(event_id, deps.settings.lease_seconds)
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
        deps.store.rules.finish_fabman_event(row.id, FabmanEventStatus.FAILED, None, str(error))
        return FabmanOutcome.FAILED
    except Exception as error:
        log.exception("Fabman event %s failed unexpectedly", row.event_key)
        deps.store.rules.finish_fabman_event(row.id, FabmanEventStatus.FAILED, None, f"{type(error).__name__}: {error}")
        return FabmanOutcome.FAILED
    deps.store.rules.finish_fabman_event(row.id, FabmanEventStatus.HANDLED, outcome)
    log.info("Fabman event %s handled: %s", row.event_key, outcome)
    deps.sender.wake()
    return outcome


def retry(deps: Deps) -> dict[FabmanOutcome, int]:
    """Handle denials still waiting (their handling failed or was cut off); counts per outcome, in the order first met."""
    summary: Counter[FabmanOutcome] = Counter()
    for event_id in deps.store.rules.fabman_events_to_handle(max_attempts=MAX_HANDLING_ATTEMPTS):
        outcome = handle(deps, event_id)
        if outcome is not None:
            summary[outcome] += 1
    return dict(summary)


def _offer_training(deps: Deps, row: FabmanEvent) -> FabmanOutcome:
    """Mail the member the courses that unlock the equipment; the outcome for the store."""
    assert row.member_id is not None and row.resource_id is not None  # only denials of a member are handled
    try:
        member = deps.fabman.get_member(row.member_id, trainings=True, privileges=True)
    except FabmanNotFound:
        return FabmanOutcome.UNKNOWN_MEMBER
    unlocking = [
        course
        for course in deps.fabman.courses().values()
        if row.resource_id in course.resources and courses.is_online(course) and courses.visible_to(course, member)
    ]
    if not unlocking:
        return FabmanOutcome.NO_ONLINE_COURSE
    held = courses.active_course_ids(member.trainings or (), deps.today())
    offered = sorted((course for course in unlocking if course.id not in held), key=lambda course: course.title.casefold())
    if not offered:
        return FabmanOutcome.ALREADY_TRAINED
    if not member.email:
        return FabmanOutcome.NO_ADDRESS
    try:
        equipment = deps.fabman.get_equipment(row.resource_id)  # its name from Fabman, never from the unsigned body
    except FabmanNotFound:
        return FabmanOutcome.UNKNOWN_EQUIPMENT
    name = equipment.name or f"#{equipment.id}"
    messages = mails.machine_denied(deps, member, name, offered, key=f"machine:{member.id}:{row.resource_id}:{row.event_key}")
    queued = deps.store.rules.offer_machine_mail(member.id, row.resource_id, messages, window=OFFER_WINDOW, event_id=row.id)
    return FabmanOutcome.MAILED if queued else FabmanOutcome.MAILED_RECENTLY
