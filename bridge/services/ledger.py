"""The training ledger as staff and scripts read it: one row per training the bridge granted or renewed.

The same columns, in the same order, as the console's CSV (every column of
the ledger table); `/admin/evidence` and `flask evidence` answer with them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.adapters.store.models import LedgerEntry
from bridge.answers import answer, described

GRANTED = dt.datetime(2026, 12, 2, 9, 14, 3, tzinfo=dt.UTC)
DAY = {"type": "string", "format": "date", "nullable": True}


@answer
class LedgerRow:
    """One ledger row: which result granted which member which training, with the quiz's figures."""

    id: int = described(41)
    result_id: str = described("88123401")
    member_id: int = described(1)
    course_id: int = described(2)
    course_title: str | None = described("Laserová řezačka")
    fabman_record_id: int | None = described(17)
    quiz_name: str | None = described("Laserová řezačka – bezpečnost")
    quiz_id: str | None = described("2044187")
    link_id: str | None = described("1288001")
    percentage: float | None = described(90.0)
    points_scored: float | None = described(9.0)
    points_available: float | None = described(10.0)
    percentage_passmark: float | None = described(80.0)
    time_started: dt.datetime | None = described(GRANTED)
    time_finished: dt.datetime | None = described(GRANTED)
    training_date: str | None = described("2026-12-02", schema=DAY)
    until_date: str | None = described("2027-12-02", schema=DAY)
    evidence: dict[str, Any] | None = described(None)
    granted_at: dt.datetime = described(GRANTED)


def ledger_row(entry: LedgerEntry) -> LedgerRow:
    """A stored ledger entry as its row."""
    return LedgerRow(
        id=entry.id,
        result_id=entry.result_id,
        member_id=entry.member_id,
        course_id=entry.course_id,
        course_title=entry.course_title,
        fabman_record_id=entry.fabman_record_id,
        quiz_name=entry.quiz_name,
        quiz_id=entry.quiz_id,
        link_id=entry.link_id,
        percentage=entry.percentage,
        points_scored=entry.points_scored,
        points_available=entry.points_available,
        percentage_passmark=entry.percentage_passmark,
        time_started=entry.time_started,
        time_finished=entry.time_finished,
        training_date=entry.training_date,
        until_date=entry.until_date,
        evidence=entry.evidence,
        granted_at=entry.granted_at,
    )
