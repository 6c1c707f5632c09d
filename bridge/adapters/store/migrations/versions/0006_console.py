"""Staff console: the staff log, sign-in links, sessions and the sign-in rate limit; indexes for its pages.

The indexes on the inbox, the outbox and the ledger let the console's overview
and lists answer from an index at real sizes (100,000 results, 20,000 ledger
rows): counts by day and status, the newest results of one status or course,
the mail of one result, the ledger by date and by course.

The file is named by its place in the chain (sixth); its revision id stays
"0004", which stores migrated before the files were renamed already record.

Revision ID: 0004
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_inbox_events_status_received", "inbox_events", ["status", "received_at"]),
    ("ix_inbox_events_received_at", "inbox_events", ["received_at"]),
    ("ix_inbox_events_status_id", "inbox_events", ["status", "id"]),
    ("ix_inbox_events_course_id", "inbox_events", ["course_id", "id"]),
    ("ix_outbox_messages_event_id", "outbox_messages", ["event_id"]),
    ("ix_training_ledger_granted_at", "training_ledger", ["granted_at"]),
    ("ix_training_ledger_course_granted", "training_ledger", ["course_id", "granted_at"]),
]


def upgrade() -> None:
    op.create_table(
        "staff_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff", sa.String(320), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=True, index=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_table(
        "staff_sign_in_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("next_path", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "staff_sign_in_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_staff_sign_in_requests_address", "staff_sign_in_requests", ["address_hash", "requested_at"])
    op.create_index("ix_staff_sign_in_requests_client", "staff_sign_in_requests", ["client", "requested_at"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("staff_sign_in_requests")
    op.drop_table("staff_sessions")
    op.drop_table("staff_sign_in_links")
    op.drop_table("staff_actions")
