"""Initial schema: clients, onboardings, audit events, terms acceptances, payroll links and
linked companies.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Moments are stored as UTC (storage.types.UTCDateTime); plain types here keep the migration
# independent of application code that may change later.
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slack_team_id", sa.String(length=32), nullable=False),
        sa.Column("slack_channel_id", sa.String(length=32), nullable=False),
        sa.Column("contact_user_id", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_client_slack_channel_id", "client", ["slack_channel_id"])

    op.create_table(
        "onboarding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("step_data", sa.JSON(), nullable=False),
        sa.Column("pending_token", sa.LargeBinary(), nullable=True),
        sa.Column("started_by", sa.String(length=32), nullable=False),
        sa.Column("invite_channel_id", sa.String(length=32), nullable=True),
        sa.Column("invite_message_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("last_progress_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=True),
        sa.Column("blocked_until", Moment, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_onboarding_client_id", "onboarding", ["client_id"])
    op.create_index("ix_onboarding_state", "onboarding", ["state"])

    op.create_table(
        "payrolllink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("onboarding_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("encrypted_token", sa.LargeBinary(), nullable=True),
        sa.Column("domain", sa.String(length=200), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("revoked_at", Moment, nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["onboarding_id"], ["onboarding.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("onboarding_id", name="uq_payrolllink_onboarding"),
    )
    op.create_index("ix_payrolllink_client_id", "payrolllink", ["client_id"])

    op.create_table(
        "termsacceptance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("onboarding_id", sa.Integer(), nullable=False),
        sa.Column("terms_version", sa.String(length=32), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("slack_team_id", sa.String(length=32), nullable=True),
        sa.Column("accepted_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(["onboarding_id"], ["onboarding.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_termsacceptance_onboarding_id", "termsacceptance", ["onboarding_id"])

    op.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("onboarding_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["payrolllink.id"]),
        sa.ForeignKeyConstraint(["onboarding_id"], ["onboarding.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auditevent_at", "auditevent", ["at"])
    op.create_index("ix_auditevent_kind", "auditevent", ["kind"])
    op.create_index("ix_auditevent_link_id", "auditevent", ["link_id"])
    op.create_index("ix_auditevent_onboarding_id", "auditevent", ["onboarding_id"])

    op.create_table(
        "linkedcompany",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("nmbrs_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(length=64), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["payrolllink.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link_id", "nmbrs_id", name="uq_linkedcompany_link_nmbrs"),
    )
    op.create_index("ix_linkedcompany_link_id", "linkedcompany", ["link_id"])


def downgrade() -> None:
    for table in (
        "linkedcompany",
        "auditevent",
        "termsacceptance",
        "payrolllink",
        "onboarding",
        "client",
    ):
        op.drop_table(table)
