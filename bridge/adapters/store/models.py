"""The store's shared tables: the webhook inbox, the outbox, the training ledger and the staff log and sign-in.

Fabman is the source of truth for trainings; these tables are the bridge's
memory of what it received, what it still has to send and what it granted.
They are here because several parts of the store read or write them (the
privacy part erases from each); a table only one part uses is defined in
that part's module (jobs, evidence, reconcile, rules, console, privacy).
Changing a table means adding an Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the store."""


class InboxEvent(Base):
    """One ClassMarker result as received, and what became of it."""

    __tablename__ = "inbox_events"
    __table_args__ = (Index("ix_inbox_events_source_received", "source", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))
    member_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    course_id: Mapped[int | None] = mapped_column(BigInteger)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    test_name: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now())
    retry_from: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(10), default="webhook", server_default="webhook")
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    payload_purged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    percentage: Mapped[float | None] = mapped_column(Float)
    """The score as ClassMarker sent it (kept for the statistics after the payload is purged)."""
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When the quiz was finished (ClassMarker's time_finished)."""

    @property
    def retrying_since(self) -> dt.datetime:
        """Where the retry age counts from: the last replay, else the first delivery."""
        return self.retry_from or self.received_at


class OutboxMessage(Base):
    """A member mail or staff alert waiting to be sent (or sent)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    body_purged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class LedgerEntry(Base):
    """Permanent proof that a member completed a training online."""

    __tablename__ = "training_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[str] = mapped_column(String(80), unique=True)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    course_id: Mapped[int] = mapped_column(BigInteger)
    course_title: Mapped[str | None] = mapped_column(String(255))
    fabman_record_id: Mapped[int | None] = mapped_column(BigInteger)
    quiz_name: Mapped[str | None] = mapped_column(String(255))
    quiz_id: Mapped[str | None] = mapped_column(String(40))
    link_id: Mapped[str | None] = mapped_column(String(40))
    percentage: Mapped[float | None] = mapped_column(Float)
    points_scored: Mapped[float | None] = mapped_column(Float)
    points_available: Mapped[float | None] = mapped_column(Float)
    percentage_passmark: Mapped[float | None] = mapped_column(Float)
    time_started: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    time_finished: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    training_date: Mapped[str | None] = mapped_column(String(10))
    until_date: Mapped[str | None] = mapped_column(String(10))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now())


class StaffAction(Base):
    """One thing a staff member did in the console (sign-in, replay, reset): kept permanently."""

    __tablename__ = "staff_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    staff: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(200), index=True)
    detail: Mapped[str | None] = mapped_column(Text)


class StaffSignInLink(Base):
    """A one-time sign-in link mailed to staff; only the hash of its token is kept."""

    __tablename__ = "staff_sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    next_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class StaffSession(Base):
    """A signed-in console session; the cookie holds its id, the store only the id's hash."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When the holder was last confirmed as staff (Fabman or STAFF_EMAILS); None: at `created_at`."""
