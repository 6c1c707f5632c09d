"""The store's part for the staff console (`store.console`): filtered, paged reads, the staff log and sign-in state.

Every list is newest first and paged by offset; each filter maps to an index
of migration 0004, so the overview and the first page of a list answer from an
index at real sizes. Sign-in links and sessions are kept only as hashes of
their secrets, so reading the store does not let anyone in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Index, Integer, Select, String, delete, func, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from bridge.adapters.store.database import Database, changed
from bridge.adapters.store.models import (
    Base,
    InboxEvent,
    LedgerEntry,
    OutboxMessage,
    StaffAction,
    StaffSession,
    StaffSignInLink,
    UtcDateTime,
)
from bridge.adapters.store.outbox import OutboxStore
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import EventStatus, MessageStatus

Row = TypeVar("Row")


@dataclass(frozen=True)
class SignInLimits:
    """Most requests for a sign-in link within the window: per address and client together, per address, per client."""

    pair: int
    address: int
    client: int


_SIGN_IN_LOCK = 7_240_612
"""PostgreSQL advisory lock that makes counting and recording a sign-in request one step across instances."""
KEEP_SIGN_IN_STATE = dt.timedelta(days=1)
"""How long used or expired links and ended sessions stay in the store (the staff log keeps the sign-ins)."""


class StaffSignInRequest(Base):
    """One request for a sign-in link, counted per address and per client for the rate limit."""

    __tablename__ = "staff_sign_in_requests"
    __table_args__ = (
        Index("ix_staff_sign_in_requests_address", "address_hash", "requested_at"),
        Index("ix_staff_sign_in_requests_client", "client", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ConsoleStore:
    """Reads and writes of the staff console (`store.console`); a sign-in request is queued in the outbox in the
    transaction that counts it."""

    def __init__(self, database: Database, *, outbox: OutboxStore) -> None:
        self._db = database
        self._outbox = outbox

    # -- results ----------------------------------------------------------------

    def event_counts_since(self, since: dt.datetime) -> dict[str, int]:
        """Results received since a moment, per status.

        Naming every status lets both databases count each one from the
        (status, received_at) index instead of walking the whole inbox.
        """
        with self._db.read() as session:
            rows = session.execute(
                select(InboxEvent.status, func.count())
                .where(InboxEvent.status.in_(list(EventStatus)), InboxEvent.received_at >= since)
                .group_by(InboxEvent.status)
            ).all()
        return {str(status): int(count) for status, count in rows}

    def find_events(
        self,
        *,
        status: EventStatus | None = None,
        member_id: int | None = None,
        course_id: int | None = None,
        received_from: dt.datetime | None = None,
        received_before: dt.datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[InboxEvent], int]:
        """One page of the inbox, newest first, and how many rows match."""
        conditions: list[Any] = []
        if status is not None:
            conditions.append(InboxEvent.status == status)
        if member_id is not None:
            conditions.append(InboxEvent.member_id == member_id)
        if course_id is not None:
            conditions.append(InboxEvent.course_id == course_id)
        if received_from is not None:
            conditions.append(InboxEvent.received_at >= received_from)
        if received_before is not None:
            conditions.append(InboxEvent.received_at < received_before)
        return self._page(select(InboxEvent).where(*conditions).order_by(InboxEvent.id.desc()), offset, limit)

    def event_messages(self, event_id: int) -> list[OutboxMessage]:
        """The mail and alerts one result caused, oldest first."""
        with self._db.read() as session:
            return list(
                session.scalars(select(OutboxMessage).where(OutboxMessage.event_id == event_id).order_by(OutboxMessage.id))
            )

    def ledger_of_result(self, result_id: str) -> LedgerEntry | None:
        """The ledger row a result made, if it granted a training."""
        with self._db.read() as session:
            return session.scalars(select(LedgerEntry).where(LedgerEntry.result_id == result_id)).first()

    def message_counts(self, statuses: Sequence[MessageStatus]) -> dict[str, int]:
        """Outbox rows in the given statuses (read from the status index, not the whole outbox)."""
        with self._db.read() as session:
            rows = session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_(statuses))
                .group_by(OutboxMessage.status)
            ).all()
        return {str(status): int(count) for status, count in rows}

    def find_messages(
        self, *, status: MessageStatus | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[OutboxMessage], int]:
        """One page of the outbox, newest first, and how many rows match."""
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
        if status is not None:
            query = query.where(OutboxMessage.status == status)
        return self._page(query, offset, limit)

    # -- the ledger -------------------------------------------------------------

    def find_ledger(
        self,
        *,
        member_id: int | None = None,
        course_id: int | None = None,
        granted_from: dt.datetime | None = None,
        granted_before: dt.datetime | None = None,
        offset: int = 0,
        limit: int | None = 50,
    ) -> tuple[list[LedgerEntry], int]:
        """Granted trainings, newest first, and how many match; `limit=None` returns every match."""
        conditions: list[Any] = []
        if member_id is not None:
            conditions.append(LedgerEntry.member_id == member_id)
        if course_id is not None:
            conditions.append(LedgerEntry.course_id == course_id)
        if granted_from is not None:
            conditions.append(LedgerEntry.granted_at >= granted_from)
        if granted_before is not None:
            conditions.append(LedgerEntry.granted_at < granted_before)
        query = select(LedgerEntry).where(*conditions).order_by(LedgerEntry.granted_at.desc(), LedgerEntry.id.desc())
        return self._page(query, offset, limit)

    # -- the staff log ------------------------------------------------------------

    def record_staff_action(self, staff: str, action: str, target: str | None, detail: str | None) -> StaffAction:
        """Keep one staff action for good."""
        with self._db.write() as session:
            row = StaffAction(
                at=self._db.now(), staff=staff, action=action, target=target, detail=detail[:500] if detail else None
            )
            session.add(row)
            session.flush()
            return row

    def staff_actions(self, *, target: str | None = None, offset: int = 0, limit: int = 50) -> tuple[list[StaffAction], int]:
        """The staff log, newest first (optionally about one target)."""
        query = select(StaffAction).order_by(StaffAction.id.desc())
        if target is not None:
            query = query.where(StaffAction.target == target)
        return self._page(query, offset, limit)

    # -- signing in ------------------------------------------------------------

    def request_sign_in(
        self, address_hash: str, client: str, *, window: dt.timedelta, limits: SignInLimits, request: OutgoingMessage
    ) -> int | None:
        """Count a request for a sign-in link and queue it for the outbox sender; None when over a limit.

        The limits count the address and the client together (`pair`), and
        each alone with wider caps, so a flood for one address from other
        clients uses up their own pairs before it reaches the owner's. The
        same two writes happen for every address, staff or not: whether it is
        staff is decided by the outbox sender, after the answer. Counting,
        recording and queueing are one transaction under a lock (SQLite's
        write lock, a PostgreSQL advisory lock), so workers and instances
        sharing the store never let one request too many through.
        """
        now = self._db.now()
        since = now - window
        with self._db.write() as session:
            if not self._db.is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SIGN_IN_LOCK})
            session.execute(delete(StaffSignInRequest).where(StaffSignInRequest.requested_at < since))
            recent = select(func.count()).select_from(StaffSignInRequest).where(StaffSignInRequest.requested_at >= since)
            by_address = recent.where(StaffSignInRequest.address_hash == address_hash)
            by_pair = session.scalar(by_address.where(StaffSignInRequest.client == client[:64])) or 0
            by_address_only = session.scalar(by_address) or 0
            by_client = session.scalar(recent.where(StaffSignInRequest.client == client[:64])) or 0
            if by_pair >= limits.pair or by_address_only >= limits.address or by_client >= limits.client:
                return None
            session.add(StaffSignInRequest(address_hash=address_hash, client=client[:64], requested_at=now))
            return self._outbox.put(session, request, now)

    def add_sign_in_link(self, token_hash: str, email: str, next_path: str | None, expires_at: dt.datetime) -> None:
        """Keep a new link's hash; links used or expired long ago are dropped on the way."""
        now = self._db.now()
        with self._db.write() as session:
            session.execute(delete(StaffSignInLink).where(StaffSignInLink.expires_at < now - KEEP_SIGN_IN_STATE))
            session.add(
                StaffSignInLink(token_hash=token_hash, email=email, next_path=next_path, created_at=now, expires_at=expires_at)
            )

    def use_sign_in_link(self, token_hash: str) -> StaffSignInLink | None:
        """Spend a link: the one call that finds it unused and unexpired gets it, every other call None."""
        now = self._db.now()
        with self._db.write() as session:
            spent = changed(
                session,
                update(StaffSignInLink)
                .where(
                    StaffSignInLink.token_hash == token_hash, StaffSignInLink.used_at.is_(None), StaffSignInLink.expires_at > now
                )
                .values(used_at=now),
            )
            return session.get(StaffSignInLink, token_hash) if spent else None

    def open_staff_session(self, id_hash: str, email: str, expires_at: dt.datetime) -> None:
        """Start a console session; sessions that ended long ago are dropped on the way."""
        now = self._db.now()
        with self._db.write() as session:
            session.execute(delete(StaffSession).where(StaffSession.expires_at < now - KEEP_SIGN_IN_STATE))
            session.add(StaffSession(id_hash=id_hash, email=email, created_at=now, expires_at=expires_at))

    def live_staff_session(self, id_hash: str) -> StaffSession | None:
        """The session with this id unless it ended or expired."""
        now = self._db.now()
        with self._db.read() as session:
            return session.scalars(
                select(StaffSession).where(
                    StaffSession.id_hash == id_hash, StaffSession.ended_at.is_(None), StaffSession.expires_at > now
                )
            ).first()

    def staff_session_checked(self, id_hash: str, at: dt.datetime) -> None:
        """The session's holder was confirmed as staff at `at`."""
        with self._db.write() as session:
            session.execute(update(StaffSession).where(StaffSession.id_hash == id_hash).values(checked_at=at))

    def end_staff_session(self, id_hash: str) -> bool:
        """Sign out: the session ends now; False when it had ended already."""
        with self._db.write() as session:
            return bool(
                changed(
                    session,
                    update(StaffSession)
                    .where(StaffSession.id_hash == id_hash, StaffSession.ended_at.is_(None))
                    .values(ended_at=self._db.now()),
                )
            )

    # -- paging -------------------------------------------------------------------

    def _page(self, query: Select[tuple[Row]], offset: int, limit: int | None) -> tuple[list[Row], int]:
        """Rows `offset`.. of a query and the number of rows it matches, in one snapshot."""
        with self._db.read() as session:
            total = int(session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
            paged = query.offset(offset) if limit is None else query.offset(offset).limit(limit)
            return list(session.scalars(paged)), total
