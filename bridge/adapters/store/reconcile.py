"""The store's part for reconciliation with ClassMarker's results API (`store.reconcile`).

The request budget is counted in the store, not in a process, so every
worker and instance sharing the database draws on one budget: a request is
counted, under the lock of the single state row, before it is made. The
watermark (the newest `time_finished` seen) and the last run's outcome live
in the same row. Results found by polling are ordinary inbox events with
source `poll`; the webhook gap is counted from them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, delete, exists, func, select, update
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from bridge.adapters.store.database import ERROR_LENGTH, Database, changed, not_leased
from bridge.adapters.store.models import Base, InboxEvent, UtcDateTime
from bridge.adapters.store.outbox import OutboxStore
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import EventSource, EventStatus

STATE_ROW = "classmarker"
UNGRADED = ":ungraded"
"""The suffix of the inbox key of a result stored before grading (the graded re-send has the bare id)."""
_REQUEST_WINDOW = dt.timedelta(hours=1)
_REQUEST_HISTORY = dt.timedelta(days=1)


class ClassMarkerRequest(Base):
    """One request made to ClassMarker's API: the hourly budget is counted from these rows, whoever made them."""

    __tablename__ = "classmarker_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class ReconcileState(Base):
    """Reconciliation's memory: the newest result it has seen (its watermark), how its last run ended, and
    where a run that was cut short left off.

    One row; writers lock it, so the request budget is counted by one process at a time.
    """

    __tablename__ = "reconcile_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    newest_finished: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resume_from: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_stopped: Mapped[str | None] = mapped_column(Text)
    last_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReconcileStore:
    """Request budget, watermark, polled results and the webhook gap (`store.reconcile`)."""

    def __init__(self, database: Database, *, outbox: OutboxStore) -> None:
        self._db = database
        self._outbox = outbox

    # -- the request budget ------------------------------------------------

    def take_api_request(self, per_hour: int) -> bool:
        """Count one API request against the budget shared by every process; False (nothing counted) when it is spent."""
        now = self._db.now()
        with self._db.write() as session:
            self._locked_state(session)
            if _requests_since(session, now - _REQUEST_WINDOW) >= per_hour:
                return False
            session.add(ClassMarkerRequest(requested_at=now))
            session.execute(delete(ClassMarkerRequest).where(ClassMarkerRequest.requested_at < now - _REQUEST_HISTORY))
            return True

    def api_requests_last_hour(self) -> int:
        """Requests made to ClassMarker's API in the last hour, by any process."""
        with self._db.read() as session:
            return _requests_since(session, self._db.now() - _REQUEST_WINDOW)

    def _locked_state(self, session: Session) -> ReconcileState:
        """The state row, created on first use, locked until the transaction ends (PostgreSQL; SQLite locks all writers)."""
        self._db.insert_ignore(session, ReconcileState, {"name": STATE_ROW})
        return session.scalars(select(ReconcileState).where(ReconcileState.name == STATE_ROW).with_for_update()).one()

    # -- the watermark and the runs ------------------------------------------

    def state(self) -> ReconcileState | None:
        """The watermark and the last run, or None before the first run."""
        with self._db.read() as session:
            return session.get(ReconcileState, STATE_ROW)

    def start_run(self) -> None:
        """Note that a run began."""
        with self._db.write() as session:
            self._locked_state(session).last_started_at = self._db.now()

    def note_finished_seen(self, finished: dt.datetime) -> None:
        """Move the watermark up to a result's `time_finished` (it never moves back)."""
        with self._db.write() as session:
            state = self._locked_state(session)
            if state.newest_finished is None or finished > state.newest_finished:
                state.newest_finished = finished

    def finish_run(self, summary: dict[str, Any], stopped: str | None, resume_from: dt.datetime | None) -> None:
        """Record how a run ended: its summary, why it stopped early and where the next run resumes (None: complete)."""
        with self._db.write() as session:
            state = self._locked_state(session)
            state.last_finished_at = self._db.now()
            state.last_summary = summary
            state.last_stopped = stopped[:ERROR_LENGTH] if stopped else None
            state.resume_from = resume_from

    # -- results found by polling -------------------------------------------

    def known_result_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these result keys the inbox holds already (from a webhook or an earlier poll)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        with self._db.read() as session:
            return set(session.scalars(select(InboxEvent.result_key).where(InboxEvent.result_key.in_(wanted))))

    def store_polled(
        self,
        *,
        result_key: str,
        status: EventStatus,
        test_name: str | None,
        payload: str,
        member_id: int | None,
        course_id: int | None,
        alerts: Callable[[int], Iterable[OutgoingMessage]] | None = None,
    ) -> tuple[InboxEvent, bool]:
        """Store a polled result that is not applied as it stands (needs review, awaiting grading) once.

        The alerts (made for the new event's id) are queued in the same
        transaction, so a stored result never goes unannounced.
        """
        now = self._db.now()
        values = {
            "result_key": result_key,
            "status": status,
            "passed": None,
            "test_name": test_name,
            "payload": payload,
            "member_id": member_id,
            "course_id": course_id,
            "attempts": 0,
            "received_at": now,
            "updated_at": now,
            "source": EventSource.POLL,
        }
        with self._db.write() as session:
            created = self._db.insert_ignore(session, InboxEvent, values)
            row = session.scalars(select(InboxEvent).where(InboxEvent.result_key == result_key)).one()
            if created and alerts is not None:
                self._outbox.add(session, alerts(row.id), now)
        return row, created

    def ungraded_payloads(self, since: dt.datetime) -> list[str]:
        """Payloads of results stored before grading since `since` whose graded re-send has not arrived."""
        graded = aliased(InboxEvent)
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(InboxEvent.payload).where(
                        InboxEvent.status == EventStatus.AWAITING_GRADING,
                        InboxEvent.received_at >= since,
                        InboxEvent.result_key.endswith(UNGRADED),
                        ~exists().where(graded.result_key + UNGRADED == InboxEvent.result_key),
                    )
                )
            )

    def review_event(self, event_id: int, payload: str, passed: bool) -> bool:
        """needs_review -> queued with the staff's verdict written into the payload; False when it is not under review."""
        now = self._db.now()
        with self._db.write() as session:
            return bool(
                changed(
                    session,
                    update(InboxEvent)
                    .where(
                        InboxEvent.id == event_id,
                        InboxEvent.status == EventStatus.NEEDS_REVIEW,
                        not_leased(InboxEvent.lease_until, now),
                    )
                    .values(
                        status=EventStatus.QUEUED,
                        payload=payload,
                        passed=passed,
                        next_attempt_at=None,
                        retry_from=now,
                        updated_at=now,
                    ),
                )
            )

    # -- the webhook gap ---------------------------------------------------

    def webhook_gap(self, since: dt.datetime) -> tuple[int, int, dt.datetime | None]:
        """Results first found by polling: how many since `since`, how many ever, and when the last one was found."""
        polled = InboxEvent.source == EventSource.POLL
        with self._db.read() as session:
            recent = session.scalar(select(func.count()).select_from(InboxEvent).where(polled, InboxEvent.received_at >= since))
            total, last = session.execute(select(func.count(), func.max(InboxEvent.received_at)).where(polled)).one()
        return int(recent or 0), int(total or 0), last


def _requests_since(session: Session, since: dt.datetime) -> int:
    count = session.scalar(select(func.count()).select_from(ClassMarkerRequest).where(ClassMarkerRequest.requested_at > since))
    return int(count or 0)
