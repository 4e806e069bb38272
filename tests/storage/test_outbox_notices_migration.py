"""Revision 0006: outbox rows queued as Slack Web API calls (method, payload) are carried over
as notices and still drawn exactly as they were queued, an update with the ts it updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, select

from bot.outbox import stored_notice
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage
from tests.slack_drawn import draw

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Verlopen*"}}]


def test_queued_slack_calls_become_notices_drawn_as_they_were(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0005_neutral_columns")
        now = datetime(2026, 11, 30, 9, 0)  # when the rows were queued, under 0005
        with engine.begin() as connection:
            for kind, method, payload in (
                ("report.invite_created", "chat.postMessage", '{"text": "uitnodiging"}'),
                (
                    "invite_update",
                    "chat.update",
                    '{"text": "verlopen", "ts": "1.5", "blocks": '
                    '[{"type": "section", "text": {"type": "mrkdwn", "text": "*Verlopen*"}}]}',
                ),
            ):
                connection.execute(
                    text(
                        "INSERT INTO outboxmessage (kind, method, recipient, payload, status,"
                        " attempts, available_at, created_at)"
                        " VALUES (:kind, :method, 'C0SHARED', :payload, 'pending', 0, :now, :now)"
                    ),
                    {"kind": kind, "method": method, "payload": payload, "now": now},
                )
        upgrade(engine)
        with Session(engine) as session:
            rows = list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))
        report, update = (draw(stored_notice(row)) for row in rows)
        assert {row.transport for row in rows} == {"slack"}
        assert (report.kind, report.method, report.payload) == (
            "report.invite_created",
            "chat.postMessage",
            {"text": "uitnodiging"},
        )
        assert (update.kind, update.channel, update.method, update.payload) == (
            "invite_update",
            "C0SHARED",
            "chat.update",
            {"text": "verlopen", "blocks": BLOCKS, "ts": "1.5"},
        )
    finally:
        engine.dispose()
