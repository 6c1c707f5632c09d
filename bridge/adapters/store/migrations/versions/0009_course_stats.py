"""Course statistics (contract section 18): each result's score and finish time on its inbox row; indexes.

A raw webhook body is removed some time after its result is final (the
privacy rules), so the score and the moment the quiz finished, which the
statistics need for a year, are kept on the row itself. Existing rows are
filled from their payloads. The indexes let the statistics read a year of
results and the ledger's holders without a table scan: results by member
and course (first attempts), ledger rows by their end date.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_inbox_events_member_course", "inbox_events", ["member_id", "course_id"]),
    ("ix_training_ledger_until", "training_ledger", ["until_date"]),
]
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("percentage", sa.Float(), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    _fill_from_payloads()


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("finished_at")
        batch.drop_column("percentage")


def _fill_from_payloads() -> None:
    """Score and finish time of the rows received before this revision, read from their stored bodies."""
    connection = op.get_bind()
    events = sa.table(
        "inbox_events",
        sa.column("id", sa.Integer()),
        sa.column("payload", sa.Text()),
        sa.column("percentage", sa.Float()),
        sa.column("finished_at", sa.DateTime(timezone=True)),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.id, events.c.payload).where(events.c.id > last).order_by(events.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        for event_id, payload in rows:
            percentage, finished = _read(payload)
            if percentage is not None or finished is not None:
                connection.execute(
                    sa.update(events).where(events.c.id == event_id).values(percentage=percentage, finished_at=finished)
                )
        last = rows[-1][0]


def _read(payload: str | None) -> tuple[float | None, dt.datetime | None]:
    try:
        result: Any = json.loads(payload or "").get("result") or {}
    except (ValueError, AttributeError):
        return None, None
    if not isinstance(result, dict):
        return None, None
    try:
        percentage = float(result["percentage"]) if result.get("percentage") not in (None, "") else None
    except (TypeError, ValueError):
        percentage = None
    finished = result.get("time_finished")
    if not isinstance(finished, (int, str)) or not str(finished).isdigit():
        return percentage, None
    return percentage, dt.datetime.fromtimestamp(int(finished), dt.UTC)
