"""What the course rules of contract sections 15 and 18 keep and ask of the store.

- Renewals on use (section 15) are evidence: each is a row of the training
  ledger, written by the one method :meth:`CourseQueries.record_renewal`, so
  whatever hooks ledger writes (the evidence log) sees it. Its `result_id`
  is `renewed:<member>:<course>:<day>`, unique like every ledger row's, which
  is what keeps renewals at most one per member, course and day.

:class:`CourseQueries` is mixed into :class:`bridge.adapters.store.Store`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bridge.adapters.store.core import StoreBase
from bridge.adapters.store.models import LedgerEntry

RENEWED = "renewed"
"""The evidence event of a renewal (section 16's event names)."""


def renewal_key(member_id: int, course_id: int, day: dt.date) -> str:
    """The ledger `result_id` of a member's renewal of a course on one day."""
    return f"{RENEWED}:{member_id}:{course_id}:{day.isoformat()}"


class CourseQueries(StoreBase):
    """Store methods of the course rules; mixed into :class:`~bridge.adapters.store.Store`."""

    def renewed_on(self, member_id: int, course_id: int, day: dt.date) -> bool:
        """Whether the member's training of the course was already renewed on that day."""
        with self._read() as session:
            found = session.scalar(select(LedgerEntry.id).where(LedgerEntry.result_id == renewal_key(member_id, course_id, day)))
        return found is not None

    def record_renewal(
        self,
        *,
        member_id: int,
        course_id: int,
        course_title: str,
        day: dt.date,
        fabman_record_id: int,
        training_date: dt.date | None,
        until_date: dt.date | None,
        evidence: dict[str, Any],
    ) -> bool:
        """Record a renewal as evidence (a ledger row), once per member, course and day; True when this call did."""
        now = self.now()
        row = {
            "result_id": renewal_key(member_id, course_id, day),
            "member_id": member_id,
            "course_id": course_id,
            "course_title": course_title[:255],
            "fabman_record_id": fabman_record_id,
            "training_date": training_date.isoformat() if training_date else None,
            "until_date": until_date.isoformat() if until_date else None,
            "evidence": {"event": RENEWED, **evidence},
            "granted_at": now,
        }
        with self._write() as session:
            return self._insert_ignore(session, LedgerEntry, row)
