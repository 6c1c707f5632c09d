"""Reconciliation with ClassMarker's results API: where each result came from, the request budget, the watermark.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("source", sa.String(10), nullable=False, server_default="webhook"))
    op.create_index("ix_inbox_events_source_received", "inbox_events", ["source", "received_at"])
    op.create_table(
        "classmarker_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_classmarker_requests_requested_at", "classmarker_requests", ["requested_at"])
    op.create_table(
        "reconcile_state",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("newest_finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_stopped", sa.Text(), nullable=True),
        sa.Column("last_summary", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("reconcile_state")
    op.drop_index("ix_classmarker_requests_requested_at", table_name="classmarker_requests")
    op.drop_table("classmarker_requests")
    op.drop_index("ix_inbox_events_source_received", table_name="inbox_events")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("source")
