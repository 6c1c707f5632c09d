"""Personal data in the store (contract section 17): retention purges, a member's erasure and export.

Raw webhook bodies (names, e-mail, IP, answers) and mail bodies are the
personal data the bridge keeps; ids, courses, scores and times are the
pseudonymous evidence that stays. A purge or an erasure keeps the SHA-256 of
each body it removes, so the evidence log's `payload_sha256` still has its
counterpart. On SQLite every connection runs with `secure_delete`, and an
erasure ends with a WAL checkpoint that truncates the log, so what was erased
is not left readable in the database's files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import JSON, BigInteger, String, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.adapters.store.database import Database
from bridge.adapters.store.evidence import EvidenceLeaf, EvidenceSalt, EvidenceStore
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
from bridge.adapters.store.rules import FabmanEvent
from bridge.domain.evidence import LeafFields
from bridge.domain.statuses import EventStatus, MessageStatus

PURGED = ""
"""What a removed body becomes (the column stays NOT NULL)."""
ERASED_SUBJECT = "(erased)"
FINAL = (EventStatus.APPLIED, EventStatus.REJECTED, EventStatus.DEAD)


class ErasedMember(Base):
    """A member whose personal data was erased: when, by whom or which event, and how much."""

    __tablename__ = "erased_members"

    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    erased_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    erased_by: Mapped[str] = mapped_column(String(320))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def _sha256(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _emails_in(payload: str) -> set[str]:
    """The e-mail addresses a raw ClassMarker body names."""
    try:
        result = json.loads(payload).get("result")
    except (ValueError, AttributeError):
        return set()
    email = result.get("email") if isinstance(result, dict) else None
    return {email.strip().lower()} if isinstance(email, str) and email.strip() else set()


class PrivacyStore:
    """Purge, erasure and export (`store.privacy`); an erasure's removals, leaf and staff log row are one transaction."""

    def __init__(self, database: Database, *, evidence: EvidenceStore) -> None:
        self._db = database
        self._evidence = evidence

    def purge(self, *, payloads_before: dt.datetime | None, mail_before: dt.datetime | None) -> dict[str, int]:
        """Remove raw bodies of results final before `payloads_before` and bodies of mail sent before `mail_before`."""
        now = self._db.now()
        counts = {"payloads_purged": 0, "fabman_payloads_purged": 0, "mail_bodies_purged": 0}
        with self._db.write() as session:
            if payloads_before is not None:
                rows = session.execute(
                    select(InboxEvent.id, InboxEvent.payload).where(
                        InboxEvent.status.in_(FINAL),
                        InboxEvent.updated_at < payloads_before,
                        InboxEvent.payload_purged_at.is_(None),
                    )
                ).all()
                counts["payloads_purged"] = self._purge_payloads(session, rows, now)
                fabman = session.execute(
                    update(FabmanEvent)
                    .where(
                        FabmanEvent.status.in_(("handled", "ignored")),
                        FabmanEvent.received_at < payloads_before,
                        FabmanEvent.payload != PURGED,
                    )
                    .values(payload=PURGED)
                )
                counts["fabman_payloads_purged"] = int(fabman.rowcount)  # type: ignore[attr-defined]
            if mail_before is not None:
                purged = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.status == MessageStatus.SENT,
                        OutboxMessage.sent_at < mail_before,
                        OutboxMessage.body_purged_at.is_(None),
                    )
                    .values(body_text=PURGED, body_html=None, body_purged_at=now)
                )
                counts["mail_bodies_purged"] = int(purged.rowcount)  # type: ignore[attr-defined]
        if any(counts.values()):
            self._db.wipe_free_space()
        return counts

    @staticmethod
    def _purge_payloads(session: Session, rows: Any, now: dt.datetime) -> int:
        for event_id, payload in rows:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id)
                .values(payload=PURGED, payload_sha256=_sha256(payload), payload_purged_at=now)
            )
        return len(rows)

    def erase(self, member_id: int, *, by: str, leaf: LeafFields) -> dict[str, int]:
        """Remove a member's personal data from every table, delete their salt, append the `erased` leaf and
        record the erasure in the staff log, in one transaction; what was removed, counted.
        """
        now = self._db.now()
        with self._db.write() as session:
            events = session.execute(
                select(InboxEvent.id, InboxEvent.payload).where(
                    InboxEvent.member_id == member_id, InboxEvent.payload_purged_at.is_(None)
                )
            ).all()
            emails = {email for _, payload in events for email in _emails_in(payload)}
            emails |= {
                address.lower()
                for address in session.scalars(
                    select(OutboxMessage.recipient).where(
                        OutboxMessage.member_id == member_id, OutboxMessage.recipient.is_not(None)
                    )
                )
                if address
            }
            counts = {"result_bodies": self._purge_payloads(session, events, now)}
            counts["mails"] = int(
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.member_id == member_id, OutboxMessage.body_purged_at.is_(None))
                    .values(recipient=None, subject=ERASED_SUBJECT, body_text=PURGED, body_html=None, body_purged_at=now)
                ).rowcount  # type: ignore[attr-defined]
            )
            counts["fabman_event_bodies"] = int(
                session.execute(
                    update(FabmanEvent)
                    .where(FabmanEvent.member_id == member_id, FabmanEvent.payload != PURGED)
                    .values(payload=PURGED)
                ).rowcount  # type: ignore[attr-defined]
            )
            if emails:
                counts["sign_in_records"] = int(
                    session.execute(delete(StaffSignInLink).where(StaffSignInLink.email.in_(emails))).rowcount  # type: ignore[attr-defined]
                ) + int(session.execute(delete(StaffSession).where(StaffSession.email.in_(emails))).rowcount)  # type: ignore[attr-defined]
            counts["salts"] = self._evidence.delete_salt(session, member_id)
            index = self._evidence.append(session, f"erased:{member_id}:{now.isoformat()}", leaf)
            detail = ", ".join(f"{name} {count}" for name, count in counts.items())
            session.add(StaffAction(at=now, staff=by[:320], action="erase", target=f"member:{member_id}", detail=detail[:500]))
            values = {"member_id": member_id, "erased_at": now, "erased_by": by[:320], "counts": {**counts, "leaf_index": index}}
            if not self._db.insert_ignore(session, ErasedMember, values):
                session.execute(update(ErasedMember).where(ErasedMember.member_id == member_id).values(**values))
        self._db.wipe_free_space()
        return {**counts, "leaf_index": index if index is not None else -1}

    def erased_member(self, member_id: int) -> ErasedMember | None:
        """When and by whom a member was erased, if they were."""
        with self._db.read() as session:
            return session.get(ErasedMember, member_id)

    def erased_members(self, member_ids: list[int]) -> set[int]:
        """Which of these members were erased (the console marks their rows)."""
        if not member_ids:
            return set()
        with self._db.read() as session:
            return set(session.scalars(select(ErasedMember.member_id).where(ErasedMember.member_id.in_(member_ids))))

    def member_data(self, member_id: int) -> dict[str, list[Any]]:
        """Every row the store holds about a member, as the models (for the export)."""
        with self._db.read() as session:
            return {
                "results": list(
                    session.scalars(select(InboxEvent).where(InboxEvent.member_id == member_id).order_by(InboxEvent.id))
                ),
                "mail": list(
                    session.scalars(select(OutboxMessage).where(OutboxMessage.member_id == member_id).order_by(OutboxMessage.id))
                ),
                "ledger": list(
                    session.scalars(select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id))
                ),
                "evidence": list(
                    session.scalars(select(EvidenceLeaf).where(EvidenceLeaf.member_id == member_id).order_by(EvidenceLeaf.index))
                ),
                "fabman_events": list(
                    session.scalars(select(FabmanEvent).where(FabmanEvent.member_id == member_id).order_by(FabmanEvent.id))
                ),
                "staff_log": list(
                    session.scalars(
                        select(StaffAction)
                        .where(or_(StaffAction.target == f"member:{member_id}", StaffAction.target.like(f"member:{member_id}:%")))
                        .order_by(StaffAction.id)
                    )
                ),
                "salt": list(session.scalars(select(EvidenceSalt.created_at).where(EvidenceSalt.member_id == member_id))),
            }


__all__ = ["ErasedMember", "PrivacyStore"]
