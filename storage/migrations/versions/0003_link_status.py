"""Link status for verification and relinking; when a closed onboarding's data was erased.

Revision ID: 0003_link_status
Revises: 0002_outbox
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_link_status"
down_revision: str | None = "0002_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Links made before this revision were working when made: they start out active.
    op.add_column(
        "payrolllink",
        sa.Column("status", sa.String(length=16), nullable=False, server_default="active"),
    )
    op.add_column("payrolllink", sa.Column("verified_at", Moment, nullable=True))
    op.add_column("payrolllink", sa.Column("problem", sa.JSON(), nullable=True))
    op.create_index("ix_payrolllink_status", "payrolllink", ["status"])
    op.add_column("onboarding", sa.Column("data_erased_at", Moment, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("onboarding") as batch:
        batch.drop_column("data_erased_at")
    with op.batch_alter_table("payrolllink") as batch:
        batch.drop_index("ix_payrolllink_status")
        batch.drop_column("problem")
        batch.drop_column("verified_at")
        batch.drop_column("status")
