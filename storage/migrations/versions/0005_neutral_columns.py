"""Columns named for what they hold, not for Slack or Nmbrs, and wide enough for Teams' ids.

client: slack_team_id -> workspace_id, slack_channel_id -> conversation_id, and transport
("slack" for every existing client); onboarding: invite_channel_id -> conversation_id,
invite_message_ts -> invite_message_ref; termsacceptance: slack_user_id -> person_id,
slack_team_id -> workspace_id; outboxmessage: channel_id -> recipient, slack_ts -> message_ref;
payrolllink: username -> account_label, encrypted_token -> encrypted_secret, domain ->
environment ({"domain": ...}); linkedcompany: nmbrs_id (int) -> provider_company_ref (string).

Revision ID: 0005_neutral_columns
Revises: 0004_open_per_channel
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0005_neutral_columns"
down_revision: str | None = "0004_open_per_channel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state NOT IN ('cancelled', 'completed', 'expired', 'handoff', 'unlinked')")
OPEN_PER_CHANNEL = "uq_onboarding_open_per_channel"
Short = sa.String(length=32)
# Chat identifiers: Slack's are short, but Teams conversation, user and activity ids run to
# well over a hundred characters.
ChatId = sa.String(length=255)


def _renamed(
    batch: BatchOperations, old: str, new: str, type_: sa.types.TypeEngine[Any], *, nullable: bool
) -> None:
    batch.alter_column(old, new_column_name=new, existing_type=type_, nullable=nullable)


def _chat_id_renamed(batch: BatchOperations, old: str, new: str, *, nullable: bool) -> None:
    batch.alter_column(
        old, new_column_name=new, existing_type=Short, type_=ChatId, nullable=nullable
    )


def _widened(batch: BatchOperations, column: str, *, nullable: bool) -> None:
    batch.alter_column(column, existing_type=Short, type_=ChatId, nullable=nullable)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Indexes over renamed columns are made again afterwards (batch mode would carry the old
    # column names into them on SQLite).
    op.drop_index("ix_client_slack_channel_id", table_name="client")
    op.drop_index(OPEN_PER_CHANNEL, table_name="onboarding")
    op.drop_index("ix_outboxmessage_channel_pending", table_name="outboxmessage")
    op.drop_index("ix_outboxmessage_channel_sent", table_name="outboxmessage")

    with op.batch_alter_table("client") as batch:
        _chat_id_renamed(batch, "slack_team_id", "workspace_id", nullable=False)
        _chat_id_renamed(batch, "slack_channel_id", "conversation_id", nullable=False)
        _widened(batch, "contact_user_id", nullable=True)
        batch.add_column(sa.Column("transport", Short, nullable=False, server_default="slack"))
    op.create_index("ix_client_conversation_id", "client", ["conversation_id"])

    with op.batch_alter_table("onboarding") as batch:
        _chat_id_renamed(batch, "invite_channel_id", "conversation_id", nullable=False)
        _chat_id_renamed(batch, "invite_message_ts", "invite_message_ref", nullable=True)
        _widened(batch, "started_by", nullable=False)
    op.create_index(
        OPEN_PER_CHANNEL,
        "onboarding",
        ["conversation_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )

    with op.batch_alter_table("termsacceptance") as batch:
        _chat_id_renamed(batch, "slack_user_id", "person_id", nullable=False)
        _chat_id_renamed(batch, "slack_team_id", "workspace_id", nullable=True)

    with op.batch_alter_table("outboxmessage") as batch:
        _chat_id_renamed(batch, "channel_id", "recipient", nullable=False)
        _chat_id_renamed(batch, "slack_ts", "message_ref", nullable=True)
    op.create_index(
        "ix_outboxmessage_recipient_pending", "outboxmessage", ["recipient", "status", "id"]
    )
    op.create_index("ix_outboxmessage_recipient_sent", "outboxmessage", ["recipient", "sent_at"])

    with op.batch_alter_table("payrolllink") as batch:
        _renamed(batch, "username", "account_label", sa.String(length=200), nullable=False)
        _renamed(batch, "encrypted_token", "encrypted_secret", sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("environment", sa.JSON(), nullable=True))
    as_json = "json_object('domain', domain)" if sqlite else "json_build_object('domain', domain)"
    op.execute(f"UPDATE payrolllink SET environment = {as_json}")
    with op.batch_alter_table("payrolllink") as batch:
        batch.alter_column("environment", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("domain")

    with op.batch_alter_table("linkedcompany") as batch:
        batch.add_column(sa.Column("provider_company_ref", sa.String(length=64), nullable=True))
    op.execute("UPDATE linkedcompany SET provider_company_ref = CAST(nmbrs_id AS VARCHAR(64))")
    with op.batch_alter_table("linkedcompany") as batch:
        batch.alter_column(
            "provider_company_ref", existing_type=sa.String(length=64), nullable=False
        )
        batch.drop_constraint("uq_linkedcompany_link_nmbrs", type_="unique")
        batch.drop_column("nmbrs_id")
        batch.create_unique_constraint(
            "uq_linkedcompany_link_company", ["link_id", "provider_company_ref"]
        )


def downgrade() -> None:
    raise NotImplementedError("0005 is not undone: restore a backup made before the upgrade")
