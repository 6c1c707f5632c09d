"""The application object: one per app, built once by the factory, the only place use cases are assembled.

Views, `flask` commands and jobs all call the methods of :class:`Bridge`, so a
job behaves the same whoever starts it. The Fabman policy a use case runs with
follows from what it does, never from who called it:

- answering ClassMarker (`receive_result`) must finish within the webhook's
  budget: a short timeout, no retries, no waiting out a 429, and no new Fabman
  write once `WEBHOOK_BUDGET_SECONDS` are spent (the event stays queued);
- everything else finishes patiently: the configured timeout, retries of
  reads and deletes, 429s waited out.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient
from bridge.adapters.mail import FlushReport, MailRenderer, Outbox
from bridge.adapters.store import InboxEvent, Store
from bridge.clock import Clock
from bridge.config import Settings
from bridge.domain.statuses import EventStatus
from bridge.errors import NotFound
from bridge.services import admin, expiry, profile, results
from bridge.services.deps import Deps
from bridge.services.results import Receipt

EXTENSION_KEY = "fablab_bridge"
WEBHOOK_FABMAN_TIMEOUT = 3.0
MAX_EVENT_ID = 2**31 - 1


class Bridge:
    """The bridge's use cases, with the adapters they run on."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        fabman: FabmanClient,
        codec: CmUserIdCodec,
        renderer: MailRenderer,
        outbox: Outbox,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fabman = fabman
        self.codec = codec
        self.outbox = outbox
        self.clock = clock
        self.patient = Deps(settings, fabman, codec, store, renderer, outbox, clock)
        webhook_fabman = fabman.derive(
            timeout=min(WEBHOOK_FABMAN_TIMEOUT, settings.fabman_timeout_seconds), retries=0, rate_limit_budget=0.0
        )
        self.answering = Deps(settings, webhook_fabman, codec, store, renderer, outbox, clock)

    def close(self) -> None:
        """Release connections (tests and shutdown)."""
        self.fabman.close()
        self.store.dispose()

    # -- the member's profile page ----------------------------------------

    def absolved_trainings(self, member_id: int, *, include_offline: bool = False) -> list[dict[str, Any]]:
        """The member's active trainings, the latest per course."""
        return profile.absolved_trainings(self.patient, member_id, include_offline=include_offline)

    def available_trainings(self, member_id: int) -> list[dict[str, Any]]:
        """The online courses the member may take now, with quiz links."""
        return profile.available_trainings(self.patient, member_id)

    def training_links(self, member_id: int, course_id: int) -> dict[str, Any]:
        """One course's personal quiz link and materials."""
        return profile.training_links(self.patient, member_id, course_id)

    # -- ClassMarker results ----------------------------------------------

    def receive_result(self, body: bytes, payload: Any) -> Receipt:
        """Store a verified delivery and apply it within the webhook's budget (mail is sent by the caller)."""
        return results.receive(self.answering.with_budget(self.settings.webhook_budget_seconds), body, payload)

    def retry_due(self) -> dict[str, Any]:
        """The retry job: apply due queued results, send unsent mail."""
        return results.retry_due(self.patient)

    def replay(self, event_id: int) -> Receipt:
        """Staff put a dead, failed or rejected event back and process it now, then send its mail."""
        receipt = results.replay(self.patient, event_id)
        self.send_mail(limit=10)
        return receipt

    def event(self, event_id: int) -> InboxEvent:
        """One stored event; NotFound when there is none (ids past the store's integer range cannot exist)."""
        found = self.store.get_event(event_id) if 0 < event_id <= MAX_EVENT_ID else None
        if found is None:
            raise NotFound(f"event {event_id} does not exist")
        return found

    def events(self, *, status: EventStatus | None = None, limit: int = 100) -> list[InboxEvent]:
        """The newest stored events, optionally of one status."""
        return self.store.events(status=status, limit=limit)

    # -- expiry -------------------------------------------------------------

    def announce_expiry(self, member_id: int, course_id: int) -> dict[str, Any]:
        """Queue the expiry mail of one member's expired training of a course."""
        return expiry.announce_expiry(self.patient, member_id, course_id)

    def expire_trainings(self, *, dry_run: bool = False, progress: expiry.Progress | None = None) -> dict[str, Any]:
        """The expiry sweep over every member."""
        return expiry.expire_trainings(self.patient, dry_run=dry_run, progress=progress)

    # -- staff ----------------------------------------------------------------

    def reset_attempts(self, member_id: int, course_id: int) -> dict[str, Any]:
        """Clear a member's failed attempts of one course."""
        return admin.reset_attempts(self.patient.fabman, member_id, course_id)

    # -- mail -------------------------------------------------------------------

    def send_mail(self, *, limit: int = 100) -> FlushReport:
        """Send what the outbox has due."""
        return self.outbox.flush(limit=limit)


def bridge_of(app: Flask | None = None) -> Bridge:
    """The running app's Bridge (the current app unless one is given)."""
    target = app if app is not None else current_app
    return target.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
