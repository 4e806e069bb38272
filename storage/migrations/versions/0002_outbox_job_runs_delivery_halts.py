"""Outbox of Slack messages, runs of scheduled jobs, halts of delivery after an uninstall.

Revision ID: 0002_outbox
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_outbox"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outboxmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", Moment, nullable=False),
        sa.Column("claimed_until", Moment, nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("sent_at", Moment, nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_outboxmessage_dedupe_key"),
    )
    op.create_index("ix_outboxmessage_status", "outboxmessage", ["status"])
    op.create_index(
        "ix_outboxmessage_channel_pending", "outboxmessage", ["channel_id", "status", "id"]
    )
    op.create_index("ix_outboxmessage_channel_sent", "outboxmessage", ["channel_id", "sent_at"])

    op.create_table(
        "jobrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("due_at", Moment, nullable=False),
        sa.Column("started_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "due_at", name="uq_jobrun_job_due_at"),
    )

    op.create_table(
        "deliveryhalt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in ("deliveryhalt", "jobrun", "outboxmessage"):
        op.drop_table(table)
