"""A message on its way out: rendered, addressed and keyed, before the outbox stores it."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.domain.statuses import Channel


@dataclass(frozen=True)
class OutgoingMessage:
    """One mail or alert to queue; `dedupe_key` makes queueing it twice a no-op."""

    dedupe_key: str
    channel: Channel
    recipient: str | None
    subject: str
    body_text: str
    body_html: str | None = None
    member_id: int | None = None
    event_id: int | None = None
