"""Consent requests: a consent at the payroll provider under way (storage.models.ConsentRequest),
its state kept only as a SHA-256 hash and its PKCE verifier only encrypted.

Revision ID: 0007_consent_requests
Revises: 0006_neutral_outbox
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_consent_requests"
down_revision: str | None = "0006_neutral_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Moments as UTC (storage.types.UTCDateTime); a plain type keeps the migration independent.
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consentrequest",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("onboarding_id", sa.Integer(), sa.ForeignKey("onboarding.id"), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=255), nullable=False),
        sa.Column("workspace_id", sa.String(length=255), nullable=False),
        sa.Column("view_key", sa.String(length=255), nullable=False),
        sa.Column("encrypted_verifier", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.Column("used_at", Moment, nullable=True),
        sa.UniqueConstraint("state_hash", name="uq_consentrequest_state_hash"),
    )
    op.create_index("ix_consentrequest_onboarding_id", "consentrequest", ["onboarding_id"])


def downgrade() -> None:
    op.drop_index("ix_consentrequest_onboarding_id", table_name="consentrequest")
    op.drop_table("consentrequest")
