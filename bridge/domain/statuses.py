"""The life cycles the store keeps, and what the bridge answers and records about them.

A received result (inbox), what applying it did (its outcome), what the
webhook answers (a receipt); a queued message (outbox); one of Fabman's
webhook events, what became of it and what the bridge answered. One enum
each, shared by the store, the use cases, the admin views and the OpenAPI
document, so a status is spelled in exactly one place. The store keeps them
as their string values.
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


class Outcome(StrEnum):
    """What applying a result did to Fabman (the outcome of an `applied` event); each has its own mail."""

    GRANTED = "granted"
    """A pass: the training was added (older records of the course removed)."""
    FAILED = "failed"
    """A fail: one more failed attempt counted; attempts remain."""
    OUT_OF_ATTEMPTS = "out_of_attempts"
    """A fail that used the last attempt."""
    BLOCKED_PASS = "blocked_pass"  # noqa: S105 - an outcome, not a password
    """A pass with no attempts left: nothing granted until staff reset the attempts."""
    NOT_COUNTED = "not_counted"
    """A fail started inside the waiting period after a failure (section 12): no attempt counted."""
    REQUIREMENT_NOT_COUNTED = "requirement_not_counted"
    """A fail without a required course (section 15): no attempt counted."""


class HoldReason(StrEnum):
    """Why a pass was held (its event `rejected`) until staff replay it; a replay applies it."""

    TOO_EARLY = "too_early"
    """Started inside the waiting period after a failed attempt (section 12)."""
    MISSING_REQUIREMENT = "missing_requirement"
    """A required course was not held when the quiz finished (section 15)."""


class ReceiptStatus(StrEnum):
    """What a receipt (the webhook's answer, a replay's, a review's) says when it is not the event's status."""

    ACCEPTED = "accepted"
    """Stored, and being applied by this process now."""
    DUPLICATE = "duplicate"
    """Received before (or being processed right now)."""
    IGNORED = "ignored"
    """Nothing the bridge uses (a verify ping, a group result), or waiting for grading."""
    UNKNOWN = "unknown"
    """No such event."""


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


class CourseState(StrEnum):
    """Where a member stands with one course (contract section 14): exactly one of these."""

    HELD = "held"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    AVAILABLE = "available"
    WAITING = "waiting"
    OUT_OF_ATTEMPTS = "out_of_attempts"
    NEEDS_PREREQUISITE = "needs_prerequisite"
    IN_PERSON = "in_person"


class FabmanEventStatus(StrEnum):
    """Where a stored Fabman webhook event stands: received -> handled | failed (retried); ignored when not used."""

    RECEIVED = "received"
    IGNORED = "ignored"
    HANDLED = "handled"
    FAILED = "failed"


class FabmanReceiptStatus(StrEnum):
    """What the bridge answers Fabman for one event."""

    STORED = "stored"
    """Stored; handled once the answer is out."""
    OK = "ok"
    """Fabman's `test` event."""
    IGNORED = "ignored"
    """An event the bridge does not use."""
    DUPLICATE = "duplicate"
    """Received before (Fabman re-sends)."""


class FabmanOutcome(StrEnum):
    """What handling one of Fabman's events did (the stored event's outcome; the retry job counts them)."""

    TEST = "test"
    NOT_USED = "not_used"
    FAILED = "failed"
    """Handling failed this time (Fabman unreachable, an error); the event is `failed` and retried."""
    # a member denied at a machine (section 13)
    MAILED = "mailed"
    MAILED_RECENTLY = "mailed_recently"
    UNKNOWN_MEMBER = "unknown_member"
    NO_ONLINE_COURSE = "no_online_course"
    ALREADY_TRAINED = "already_trained"
    NO_ADDRESS = "no_address"
    UNKNOWN_EQUIPMENT = "unknown_equipment"
    # a permitted use of a machine (section 15)
    RENEWED = "renewed"
    NO_RENEWING_COURSE = "no_renewing_course"
    RENEWED_TODAY = "renewed_today"
    RENEWING_ELSEWHERE = "renewing_elsewhere"
    NOT_HELD = "not_held"
    NEVER_EXPIRES = "never_expires"
    ALREADY_LONGER = "already_longer"
    # a member deleted in Fabman (section 17)
    ERASED = "erased"
    MEMBER_STILL_EXISTS = "member_still_exists"
