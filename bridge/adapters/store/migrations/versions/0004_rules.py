"""Training rules: Fabman's webhook events, "denied at a machine" offers, reminded training records.

The file is named by its place in the chain (fourth); its revision id stays
"0006", which stores migrated before the files were renamed already record.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fabman_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_key", sa.String(80), nullable=False, unique=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("outcome", sa.String(40)),
        sa.Column("member_id", sa.BigInteger(), index=True),
        sa.Column("resource_id", sa.BigInteger()),
        sa.Column("occurred_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("handled_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "machine_offers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fabman_event_id", sa.Integer()),
        sa.UniqueConstraint("member_id", "resource_id", name="uq_machine_offers_member_resource"),
    )
    op.create_table(
        "reminded_trainings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("until_date", sa.String(10), nullable=False),
        sa.Column("message_key", sa.String(160), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("member_id", "record_id", "until_date", name="uq_reminded_trainings_record_date"),
    )


def downgrade() -> None:
    op.drop_table("reminded_trainings")
    op.drop_table("machine_offers")
    op.drop_table("fabman_events")
