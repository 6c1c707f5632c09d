"""What the training rules of contract sections 12 and 13 keep in the store.

- `fabman_events`: Fabman's webhook events, each stored once by Fabman's own
  `id` (Fabman re-sends and delivers late), with what became of it.
- `machine_offers`: when a member was last mailed the quiz links of one piece
  of equipment, so the "denied at a machine" mail goes at most once per member
  and equipment in a window (7 days).
- `reminded_trainings`: each training record (and `untilDate`) a combined
  reminder listed, so no record is reminded twice for the same date.

:class:`RulesStore` is the store's part `store.rules`; its transitions are
one transaction each, and the mail a transition queues is queued in it
(through :meth:`~bridge.adapters.store.outbox.OutboxStore.add`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, func, select, tuple_, update
from sqlalchemy.orm import Mapped, mapped_column

from bridge.adapters.store.database import ERROR_LENGTH, Database, changed, not_leased
from bridge.adapters.store.models import Base, InboxEvent, OutboxMessage, UtcDateTime
from bridge.adapters.store.outbox import OutboxStore
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import EventStatus, MessageStatus


class FabmanEvent(Base):
    """One webhook event from Fabman, as received, and what became of it.

    status: `received` (to handle) -> `handled` | `failed` (handling will be
    retried) ; `ignored` for events the bridge does not act on (the `test`
    event, unknown types, other activity log entries).
    """

    __tablename__ = "fabman_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(80), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))
    member_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    resource_id: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now())
    handled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class MachineOffer(Base):
    """The last "denied at a machine" mail to one member for one piece of equipment."""

    __tablename__ = "machine_offers"
    __table_args__ = (UniqueConstraint("member_id", "resource_id", name="uq_machine_offers_member_resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger)
    resource_id: Mapped[int] = mapped_column(BigInteger)
    offered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    fabman_event_id: Mapped[int | None] = mapped_column(Integer)


class RemindedTraining(Base):
    """A training record listed in a combined reminder, for one `untilDate`."""

    __tablename__ = "reminded_trainings"
    __table_args__ = (UniqueConstraint("member_id", "record_id", "until_date", name="uq_reminded_trainings_record_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    record_id: Mapped[int] = mapped_column(BigInteger)
    until_date: Mapped[str] = mapped_column(String(10))
    message_key: Mapped[str] = mapped_column(String(160))
    reminded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


ReminderMark = tuple[int, int, dt.date]
"""(member id, training record id, untilDate) of a record a reminder lists."""


@dataclass(frozen=True)
class ReminderMail:
    """One member's combined reminder and the records it lists."""

    messages: list[OutgoingMessage]
    marks: list[ReminderMark]


class RulesStore:
    """Fabman's webhook events, the machine mail, reminders and the staff digest (`store.rules`)."""

    def __init__(self, database: Database, *, outbox: OutboxStore) -> None:
        self._db = database
        self._outbox = outbox

    # -- Fabman's webhook events ----------------------------------------------

    def receive_fabman_event(
        self,
        *,
        event_key: str,
        event_type: str,
        status: str,
        payload: str,
        outcome: str | None = None,
        member_id: int | None = None,
        resource_id: int | None = None,
        occurred_at: dt.datetime | None = None,
    ) -> tuple[FabmanEvent, bool]:
        """Store an event once by Fabman's id; the row and whether this call stored it."""
        now = self._db.now()
        values = {
            "event_key": event_key,
            "type": event_type[:80],
            "status": status,
            "outcome": outcome,
            "member_id": member_id,
            "resource_id": resource_id,
            "occurred_at": occurred_at,
            "attempts": 0,
            "payload": payload,
            "received_at": now,
            "handled_at": now if status != "received" else None,
        }
        with self._db.write() as session:
            created = self._db.insert_ignore(session, FabmanEvent, values)
            row = session.scalars(select(FabmanEvent).where(FabmanEvent.event_key == event_key)).one()
        return row, created

    def claim_fabman_event(self, event_id: int, lease_seconds: float) -> FabmanEvent | None:
        """Take a received (or failed) event for handling unless another worker holds it."""
        now = self._db.now()
        with self._db.write() as session:
            claimed = changed(
                session,
                update(FabmanEvent)
                .where(
                    FabmanEvent.id == event_id,
                    FabmanEvent.status.in_(("received", "failed")),
                    not_leased(FabmanEvent.lease_until, now),
                )
                .values(lease_until=now + dt.timedelta(seconds=lease_seconds), attempts=FabmanEvent.attempts + 1),
            )
            return session.get(FabmanEvent, event_id) if claimed else None

    def finish_fabman_event(self, event_id: int, status: str, outcome: str | None, error: str | None = None) -> None:
        """received -> handled | failed, with the outcome (and why it failed)."""
        with self._db.write() as session:
            session.execute(
                update(FabmanEvent)
                .where(FabmanEvent.id == event_id)
                .values(
                    status=status,
                    outcome=outcome,
                    last_error=error[:ERROR_LENGTH] if error else None,
                    lease_until=None,
                    handled_at=self._db.now(),
                )
            )

    def fabman_events_to_handle(self, *, max_attempts: int, limit: int = 50) -> list[int]:
        """Received or failed events no worker holds, tried fewer than `max_attempts` times."""
        now = self._db.now()
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(FabmanEvent.id)
                    .where(
                        FabmanEvent.status.in_(("received", "failed")),
                        FabmanEvent.attempts < max_attempts,
                        not_leased(FabmanEvent.lease_until, now),
                    )
                    .order_by(FabmanEvent.id)
                    .limit(limit)
                )
            )

    def fabman_event(self, event_key: str) -> FabmanEvent | None:
        """One stored Fabman event by Fabman's id."""
        with self._db.read() as session:
            return session.scalars(select(FabmanEvent).where(FabmanEvent.event_key == event_key)).one_or_none()

    # -- the "denied at a machine" mail ---------------------------------------------

    def offer_machine_mail(
        self, member_id: int, resource_id: int, messages: Sequence[OutgoingMessage], *, window: dt.timedelta, event_id: int
    ) -> bool:
        """Queue the mail unless this member was mailed about this equipment within `window`; True when queued.

        The check and the queueing are one transaction: the first writer takes
        (or renews) the member's row for the equipment, so two denials handled
        at once by two workers still send one mail.
        """
        now = self._db.now()
        with self._db.write() as session:
            offer = {"member_id": member_id, "resource_id": resource_id, "offered_at": now, "fabman_event_id": event_id}
            won = self._db.insert_ignore(session, MachineOffer, offer)
            if not won:
                won = bool(
                    changed(
                        session,
                        update(MachineOffer)
                        .where(
                            MachineOffer.member_id == member_id,
                            MachineOffer.resource_id == resource_id,
                            MachineOffer.offered_at <= now - window,
                        )
                        .values(offered_at=now, fabman_event_id=event_id),
                    )
                )
            if won:
                self._outbox.add(session, messages, now)
            return won

    # -- combined reminders ------------------------------------------------------------

    def reminded(self, marks: Iterable[ReminderMark]) -> set[ReminderMark]:
        """Which of these records were already listed in a reminder for that `untilDate`."""
        wanted = list(dict.fromkeys(marks))
        if not wanted:
            return set()
        found: set[ReminderMark] = set()
        with self._db.read() as session:
            for chunk in _chunks(wanted, 500):
                keys = [(member, record, until.isoformat()) for member, record, until in chunk]
                rows = session.execute(
                    select(RemindedTraining.member_id, RemindedTraining.record_id, RemindedTraining.until_date).where(
                        tuple_(RemindedTraining.member_id, RemindedTraining.record_id, RemindedTraining.until_date).in_(keys)
                    )
                )
                found |= {(int(m), int(r), dt.date.fromisoformat(u)) for m, r, u in rows}
        return found

    def queue_reminders(self, mails: Iterable[ReminderMail]) -> int:
        """Queue each member's reminder with the records it lists, in one transaction; how many were new.

        A member's records are marked only when their mail is queued by this
        call: if the day's mail was queued already (a second sweep), they wait
        for tomorrow's.
        """
        now = self._db.now()
        queued = 0
        with self._db.write() as session:
            for mail in mails:
                if not mail.messages or not self._outbox.add(session, mail.messages, now):
                    continue
                queued += 1
                for member_id, record_id, until in mail.marks:
                    self._db.insert_ignore(
                        session,
                        RemindedTraining,
                        {
                            "member_id": member_id,
                            "record_id": record_id,
                            "until_date": until.isoformat(),
                            "message_key": mail.messages[0].dedupe_key,
                            "reminded_at": now,
                        },
                    )
        return queued

    # -- the staff digest -----------------------------------------------------------------

    def events_needing_staff(self, *, since: dt.datetime, limit: int = 50) -> dict[str, list[InboxEvent]]:
        """Dead results (any age: they wait for a replay) and results rejected since `since`, newest first."""
        with self._db.read() as session:
            dead = session.scalars(
                select(InboxEvent).where(InboxEvent.status == EventStatus.DEAD).order_by(InboxEvent.id.desc()).limit(limit)
            )
            rejected = session.scalars(
                select(InboxEvent)
                .where(InboxEvent.status == EventStatus.REJECTED, InboxEvent.updated_at >= since)
                .order_by(InboxEvent.id.desc())
                .limit(limit)
            )
            return {"dead": list(dead), "rejected": list(rejected)}

    def dead_messages(self, *, since: dt.datetime, limit: int = 50) -> list[OutboxMessage]:
        """Mail and alerts given up on since `since`, newest first."""
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.status == MessageStatus.DEAD, OutboxMessage.created_at >= since)
                    .order_by(OutboxMessage.id.desc())
                    .limit(limit)
                )
            )


def _chunks(items: list[ReminderMark], size: int) -> Iterator[list[ReminderMark]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
