"""invitemessage: every invite message posted for an onboarding (the first and each resend),
so all of them are redrawn when it moves on; filled from onboarding.invite_message_ref.

Revision ID: 0009_invites_invite_messages
Revises: 0008_grant_renewed_at
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_invites_invite_messages"
down_revision: str | None = "0008_grant_renewed_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as UTC (storage.types.UTCDateTime); a plain type keeps the migration standalone.
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invitemessage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("onboarding_id", sa.Integer(), sa.ForeignKey("onboarding.id"), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("message_ref", sa.String(length=255), nullable=False),
        sa.Column("posted_at", Moment, nullable=False),
        sa.UniqueConstraint("onboarding_id", "message_ref", name="uq_invitemessage_onboarding_ref"),
    )
    op.create_index("ix_invitemessage_onboarding_id", "invitemessage", ["onboarding_id"])
    # The invites posted before: the newest of each onboarding is all that was kept.
    op.execute(
        "INSERT INTO invitemessage (onboarding_id, conversation_id, message_ref, posted_at) "
        "SELECT id, conversation_id, invite_message_ref, updated_at FROM onboarding "
        "WHERE invite_message_ref IS NOT NULL AND conversation_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_invitemessage_onboarding_id", table_name="invitemessage")
    op.drop_table("invitemessage")
