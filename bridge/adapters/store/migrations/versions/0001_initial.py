"""Inbox, outbox and training ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("result_key", sa.String(80), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("outcome", sa.String(40)),
        sa.Column("member_id", sa.BigInteger(), index=True),
        sa.Column("course_id", sa.BigInteger()),
        sa.Column("passed", sa.Boolean()),
        sa.Column("test_name", sa.String(255)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), index=True),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dedupe_key", sa.String(160), nullable=False, unique=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(320)),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text()),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), index=True),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("event_id", sa.Integer()),
        sa.Column("member_id", sa.BigInteger(), index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "training_ledger",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("result_id", sa.String(80), nullable=False, unique=True),
        sa.Column("member_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("course_id", sa.BigInteger(), nullable=False),
        sa.Column("course_title", sa.String(255)),
        sa.Column("fabman_record_id", sa.BigInteger()),
        sa.Column("quiz_name", sa.String(255)),
        sa.Column("quiz_id", sa.String(40)),
        sa.Column("link_id", sa.String(40)),
        sa.Column("percentage", sa.Float()),
        sa.Column("points_scored", sa.Float()),
        sa.Column("points_available", sa.Float()),
        sa.Column("percentage_passmark", sa.Float()),
        sa.Column("time_started", sa.DateTime(timezone=True)),
        sa.Column("time_finished", sa.DateTime(timezone=True)),
        sa.Column("training_date", sa.String(10)),
        sa.Column("until_date", sa.String(10)),
        sa.Column("evidence", sa.JSON()),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("training_ledger")
    op.drop_table("outbox_messages")
    op.drop_table("inbox_events")
