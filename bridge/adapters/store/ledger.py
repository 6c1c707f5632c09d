"""The training ledger (`store.ledger`): permanent proof of each training granted online.

A ledger row is written within the transaction that grants it (an applied
result's, in :mod:`~bridge.adapters.store.inbox`; a renewal's, in
:mod:`~bridge.adapters.store.courses`), beside its evidence leaf, through
:meth:`LedgerStore.add`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.adapters.store.database import Database
from bridge.adapters.store.models import LedgerEntry


class LedgerStore:
    """Writing a granted training within another part's transaction, and reading the ledger."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, session: Session, row: dict[str, Any]) -> bool:
        """Write a ledger row within the caller's transaction unless its `result_id` is there; True when this call did."""
        return self._db.insert_ignore(session, LedgerEntry, row)

    def entries(self, *, member_id: int | None = None) -> list[LedgerEntry]:
        """Granted trainings, newest first."""
        with self._db.read() as session:
            query = select(LedgerEntry).order_by(LedgerEntry.id.desc())
            if member_id is not None:
                query = query.where(LedgerEntry.member_id == member_id)
            return list(session.scalars(query))
