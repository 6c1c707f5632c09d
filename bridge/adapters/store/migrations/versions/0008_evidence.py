"""Evidence log and personal data: leaves, salts, checkpoints; purge and erasure marks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _at() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_leaves",
        sa.Column("leaf_index", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_key", sa.String(200), nullable=False, unique=True),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("course_id", sa.BigInteger()),
        sa.Column("result_id", sa.String(80), index=True),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", _at(), nullable=False),
    )
    head = op.create_table(
        "evidence_head",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(head, [{"name": "log", "size": 0}])
    op.create_table(
        "evidence_salts",
        sa.Column("member_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("created_at", _at(), nullable=False),
    )
    op.create_table(
        "evidence_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False, index=True),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("tsa_token", sa.LargeBinary()),
        sa.Column("tsa_error", sa.Text()),
        sa.Column("created_at", _at(), nullable=False),
    )
    op.create_table(
        "erased_members",
        sa.Column("member_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("erased_at", _at(), nullable=False),
        sa.Column("erased_by", sa.String(320), nullable=False),
        sa.Column("counts", sa.JSON()),
    )
    with op.batch_alter_table("inbox_events") as batch:
        batch.add_column(sa.Column("payload_sha256", sa.String(64)))
        batch.add_column(sa.Column("payload_purged_at", _at()))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("body_purged_at", _at()))
    op.create_index("ix_outbox_messages_sent_at", "outbox_messages", ["sent_at"])
    op.create_index("ix_inbox_events_updated_at", "inbox_events", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_events_updated_at", table_name="inbox_events")
    op.drop_index("ix_outbox_messages_sent_at", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("body_purged_at")
    with op.batch_alter_table("inbox_events") as batch:
        batch.drop_column("payload_purged_at")
        batch.drop_column("payload_sha256")
    for table in ("erased_members", "evidence_checkpoints", "evidence_salts", "evidence_head", "evidence_leaves"):
        op.drop_table(table)
