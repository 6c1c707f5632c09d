"""The life cycles the store keeps: a received result (inbox) and a queued message (outbox).

One enum each, shared by the store, the use cases, the admin views and the
OpenAPI document, so a status is spelled in exactly one place.
"""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    """Where a received ClassMarker result stands.

    queued -> applied | rejected | error | dead; awaiting_grading waits for the
    graded re-send; staff replay rejected, error and dead events (back to queued).
    needs_review: found by reconciliation without `passed` and without a pass
    mark, so the bridge cannot tell a pass from a fail; staff decide
    (`flask review-result`), which queues it with their verdict. It is not
    replayable as it stands: replaying it would meet the same question.
    """

    QUEUED = "queued"
    APPLIED = "applied"
    REJECTED = "rejected"
    ERROR = "error"
    DEAD = "dead"
    AWAITING_GRADING = "awaiting_grading"
    NEEDS_REVIEW = "needs_review"


REPLAYABLE: tuple[EventStatus, ...] = (EventStatus.QUEUED, EventStatus.DEAD, EventStatus.ERROR, EventStatus.REJECTED)
"""Statuses staff may put back in the queue."""


class RejectReason(StrEnum):
    """Why a result that decrypted to a real member and course did not count (contract 4.10).

    Kept as the rejected event's `outcome`, so staff see it in the console and
    the admin API; the event's `last_error` says it in words.
    """

    WRONG_QUIZ = "wrong_quiz"
    COURSE_NOT_ONLINE = "course_not_online"
    ADMIN_ONLY = "admin_only"
    MEMBER_NOT_ACTIVE = "member_not_active"
    LINK_TOO_OLD = "link_too_old"


class EventSource(StrEnum):
    """How a result first reached the bridge: its webhook, or reconciliation with ClassMarker's API (the webhook gap)."""

    WEBHOOK = "webhook"
    POLL = "poll"


class MessageStatus(StrEnum):
    """Where a queued mail or alert stands: pending until sent, dead once too old to keep trying."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class Channel(StrEnum):
    """How a queued message leaves the bridge."""

    MAIL = "mail"
    ALERT_MAIL = "alert_mail"
    DISCORD = "discord"
    STAFF_SIGN_IN = "staff_sign_in"
    """A request for a console sign-in link: the sender decides whether the address is staff and mails the link.

    Its row holds the address asked for and never the link (a credential);
    once handled, it is dropped rather than kept as sent.
    """
