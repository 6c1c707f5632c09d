"""Fabman's webhooks, sent by the simulator when and as often as a test says.

Fabman POSTs each event as `{"id", "type", "createdAt", "details"}` JSON to
the webhook's URL. Only a 2xx counts as delivered and redirects are not
followed; failures are retried later, and a paused webhook queues its events
and delivers them late. A receiver therefore sees repeated, late and
out-of-order events as a matter of course, and `FabmanWebhookSender` lets a
test produce each of them on purpose: an event is recorded when it happens
(that is its `createdAt`) and POSTed only when `deliver()` is called, in the
order and as many times as the caller asks.

Fabman signs nothing; receivers protect the URL with a token of their own
(`?token=...`), so the URL is a secret: it is neither logged nor recorded.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import requests

from .state import Json, SimState, utc_timestamp

logger = logging.getLogger(__name__)

# Process-wide, so two senders in one test never hand a receiver the same id
# for different events (receivers deduplicate on it).
_event_ids = itertools.count(1)
_event_ids_lock = threading.Lock()


def _next_event_id() -> int:
    with _event_ids_lock:
        return next(_event_ids)


@dataclass(frozen=True)
class SimulatedFabmanEvent:
    """One webhook event; `created_at` is when it happened, not when it is sent."""

    id: int
    type: str
    created_at: str
    details: Json

    def as_json(self) -> Json:
        """The body Fabman POSTs."""
        return {"id": self.id, "type": self.type, "createdAt": self.created_at, "details": self.details}


@dataclass(frozen=True)
class FabmanWebhookDelivery:
    """One POST of an event and the receiver's answer.

    `status` is None when no answer came (refused, reset, timed out); `error`
    then names the exception's class (its message would repeat the URL).
    """

    event_id: int
    event_type: str
    status: int | None
    body: str
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether Fabman would count this POST as delivered: a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class FabmanWebhookSender:
    """Sends Fabman-shaped webhook events to one URL (token included), under the caller's control.

    `record_*` methods make an event happen: it is queued with its
    `createdAt`, nothing is sent. `deliver()` POSTs. An event stays pending
    until a POST of it gets a 2xx, as Fabman keeps retrying; delivering an
    event again after that is a re-send. Every answer is kept in
    `deliveries`, oldest first. `clock` gives "now" for `createdAt`;
    `session` is what posts (a test may mount an in-process bridge on it).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._pending: list[SimulatedFabmanEvent] = []
        self._deliveries: list[FabmanWebhookDelivery] = []

    # -- events happen -----------------------------------------------------

    def record_event(self, event_type: str, details: Json, *, created_at: str | None = None) -> SimulatedFabmanEvent:
        """An event happens now (or at `created_at`, Fabman's timestamp format); it is queued, not sent."""
        event = SimulatedFabmanEvent(_next_event_id(), event_type, created_at or utc_timestamp(self._clock()), details)
        with self._lock:
            self._pending.append(event)
        return event

    def record_test_event(self) -> SimulatedFabmanEvent:
        """The `test` event staff send from Fabman's admin; what its details hold is undocumented, so none."""
        return self.record_event("test", {})

    def record_resource_log_created(self, state: SimState, entry: Json) -> SimulatedFabmanEvent:
        """`resourceLog_created` for an activity log entry `state` holds, dated when the entry was made.

        `details.log` is the entry, `details.resource` the equipment and
        `details.member` the member (null for an attempt by no known member),
        each as the API shows it at the time the event is recorded.
        """
        member = None if entry["member"] is None else state.member(entry["member"])
        details = {"log": entry, "resource": state.resource(entry["resource"]), "member": member}
        return self.record_event("resourceLog_created", details, created_at=entry["createdAt"])

    # -- events are sent ---------------------------------------------------

    def deliver(self, *events: SimulatedFabmanEvent, times: int = 1) -> list[FabmanWebhookDelivery]:
        """POST `events` in the given order (default: every pending one, oldest first), each `times` times in a row.

        Returns this call's deliveries; an event delivered with a 2xx stops
        being pending, the others stay queued for a later `deliver()`.
        """
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError("times must be an integer >= 1")
        with self._lock:
            chosen = list(events) if events else list(self._pending)
        deliveries = [self._post(event) for event in chosen for _ in range(times)]
        delivered_ids = {delivery.event_id for delivery in deliveries if delivery.delivered}
        with self._lock:
            self._pending = [event for event in self._pending if event.id not in delivered_ids]
            self._deliveries.extend(deliveries)
        return deliveries

    @property
    def pending(self) -> list[SimulatedFabmanEvent]:
        """Events recorded and not yet delivered with a 2xx, oldest first."""
        with self._lock:
            return list(self._pending)

    @property
    def deliveries(self) -> list[FabmanWebhookDelivery]:
        """Every POST so far and its answer, oldest first."""
        with self._lock:
            return list(self._deliveries)

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> FabmanWebhookSender:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.close()

    def _post(self, event: SimulatedFabmanEvent) -> FabmanWebhookDelivery:
        body = json.dumps(event.as_json(), ensure_ascii=False).encode("utf-8")
        try:
            response = self._session.post(
                self._url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            logger.debug("webhook event %s (%s) got no answer: %s", event.id, event.type, type(error).__name__)
            return FabmanWebhookDelivery(event.id, event.type, None, "", type(error).__name__)
        logger.debug("webhook event %s (%s) answered %s", event.id, event.type, response.status_code)
        return FabmanWebhookDelivery(event.id, event.type, response.status_code, response.text)
