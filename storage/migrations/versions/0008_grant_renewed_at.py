"""payrolllink.grant_renewed_at: when a link's grant was last renewed at the provider (a REST
refresh), so the daily renewal keeps every REST link inside its refresh token's 30 days.

Revision ID: 0008_grant_renewed_at
Revises: 0007_consent_requests
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_grant_renewed_at"
down_revision: str | None = "0007_consent_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as UTC (storage.types.UTCDateTime); a plain type keeps the migration standalone.
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("payrolllink", sa.Column("grant_renewed_at", Moment, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payrolllink") as batch:
        batch.drop_column("grant_renewed_at")
