"""The training ledger (`store.ledger`): permanent proof of each training granted online.

A ledger row is written within the transaction that grants it (an applied
result's, in :mod:`~bridge.adapters.store.inbox`; a renewal's, in
:mod:`~bridge.adapters.store.courses`), beside its evidence leaf, through
:meth:`LedgerStore.add`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.adapters.store.database import Database
from bridge.adapters.store.models import LedgerEntry


@dataclasses.dataclass(frozen=True, kw_only=True)
class Grant:
    """The ledger row of a training a passed quiz granted, as the use case that granted it knows it.

    The store adds when it was recorded (`granted_at`, the moment of the transaction).
    """

    result_id: str
    member_id: int
    course_id: int
    course_title: str | None
    fabman_record_id: int
    quiz_name: str | None
    quiz_id: str | None
    link_id: str | None
    percentage: float | None
    points_scored: float | None
    points_available: float | None
    percentage_passmark: float | None
    time_started: dt.datetime | None
    time_finished: dt.datetime | None
    training_date: dt.date | None
    until_date: dt.date | None
    evidence: dict[str, Any]
    """The result's fields as ClassMarker sent them (`QuizResult.evidence`)."""

    def row(self, granted_at: dt.datetime) -> dict[str, Any]:
        """The values of its ledger row."""
        values = dataclasses.asdict(self)
        for name in ("training_date", "until_date"):
            day = values[name]
            values[name] = day.isoformat() if day is not None else None
        return {**values, "granted_at": granted_at}


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
