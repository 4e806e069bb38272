"""Outbox rows hold a notice, drawn by the transport when it sends: outboxmessage.method and
.payload (a Slack Web API call) -> transport ("slack") and notice ({"language", "values",
"updates"}).

The rows written before hold Slack's finished text and blocks: they are carried over as notices
whose values are that payload under "slack_payload" (drawn as they are), with the ts of a
chat.update as the message they update.

Revision ID: 0006_neutral_outbox
Revises: 0005_neutral_columns
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_neutral_outbox"
down_revision: str | None = "0005_neutral_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLACK_PAYLOAD = "slack_payload"


def upgrade() -> None:
    with op.batch_alter_table("outboxmessage") as batch:
        batch.add_column(
            sa.Column("transport", sa.String(length=32), nullable=False, server_default="slack")
        )
        batch.add_column(sa.Column("notice", sa.JSON(), nullable=True))

    outbox = sa.table(
        "outboxmessage",
        sa.column("id", sa.Integer()),
        sa.column("method", sa.String()),
        sa.column("payload", sa.JSON()),
        sa.column("notice", sa.JSON()),
    )
    connection = op.get_bind()
    for row_id, method, payload in connection.execute(
        sa.select(outbox.c.id, outbox.c.method, outbox.c.payload)
    ).all():
        payload = dict(payload or {})
        ts = payload.pop("ts", None)
        notice = {
            "language": "",
            "values": {SLACK_PAYLOAD: payload},
            "updates": ts if method == "chat.update" else None,
        }
        connection.execute(sa.update(outbox).where(outbox.c.id == row_id).values(notice=notice))

    with op.batch_alter_table("outboxmessage") as batch:
        batch.alter_column("notice", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("payload")
        batch.drop_column("method")


def downgrade() -> None:
    raise NotImplementedError("0006 is not undone: restore a backup made before the upgrade")
