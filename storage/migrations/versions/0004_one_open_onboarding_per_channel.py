"""One open onboarding per channel, enforced by a partial unique index.

Every onboarding gets its channel (copied from its client where the invite was never recorded).
Where a channel already has several open onboardings (two processes could both start one before
this revision), the newest stays open, as the manager sees it in `/onboard status`, and the older
ones are cancelled, their kept token erased and the cancellation audited.

Revision ID: 0004_open_per_channel
Revises: 0003_link_status
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004_open_per_channel"
down_revision: str | None = "0003_link_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state NOT IN ('cancelled', 'completed', 'expired', 'handoff', 'unlinked')")
INDEX = "uq_onboarding_open_per_channel"


def upgrade() -> None:
    connection = op.get_bind()
    connection.execute(
        sa.text(
            "UPDATE onboarding SET invite_channel_id = (SELECT client.slack_channel_id"
            " FROM client WHERE client.id = onboarding.client_id)"
            " WHERE invite_channel_id IS NULL"
        )
    )
    _cancel_all_but_the_newest_open_per_channel(connection)
    with op.batch_alter_table("onboarding") as batch:
        batch.alter_column("invite_channel_id", existing_type=sa.String(length=32), nullable=False)
    op.create_index(
        INDEX,
        "onboarding",
        ["invite_channel_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def _cancel_all_but_the_newest_open_per_channel(connection: sa.Connection) -> None:
    rows = connection.execute(
        sa.text(
            f"SELECT id, invite_channel_id FROM onboarding WHERE {OPEN.text}"
            " ORDER BY invite_channel_id, created_at DESC, id DESC"
        )
    ).all()
    seen: set[str] = set()
    now = datetime.now(UTC)
    for onboarding_id, channel in rows:
        if channel not in seen:
            seen.add(channel)
            continue
        connection.execute(
            sa.text(
                "UPDATE onboarding SET state = 'cancelled', pending_token = NULL,"
                " updated_at = :now, version = version + 1 WHERE id = :id"
            ),
            {"now": _moment(connection, now), "id": onboarding_id},
        )
        connection.execute(
            sa.text(
                "INSERT INTO auditevent (onboarding_id, actor, kind, detail, at)"
                " VALUES (:id, 'system', 'onboarding_cancelled', :detail, :now)"
            ),
            {
                "id": onboarding_id,
                "detail": json.dumps({"reason": "another onboarding is open in the channel"}),
                "now": _moment(connection, now),
            },
        )


def _moment(connection: sa.Connection, moment: datetime) -> datetime:
    # As storage.types.UTCDateTime stores it: naive UTC on SQLite.
    return moment.replace(tzinfo=None) if connection.dialect.name == "sqlite" else moment


def downgrade() -> None:
    op.drop_index(INDEX, table_name="onboarding")
    with op.batch_alter_table("onboarding") as batch:
        batch.alter_column("invite_channel_id", existing_type=sa.String(length=32), nullable=True)
