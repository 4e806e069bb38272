"""Outbox notices drawn as the Slack transport sends them, for tests that read what people see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.clock import WorkingCalendar
from bot.core.notices import Notice
from bot.outbox import stored_notice
from bot.transports.slack.render import SlackRenderer
from storage.models import OutboxMessage

RENDERER = SlackRenderer(calendar=WorkingCalendar("Europe/Amsterdam"))


@dataclass(frozen=True)
class Drawn:
    """A notice as its Slack Web API call: the method and its arguments besides the channel."""

    kind: str
    channel: str
    dedupe_key: str | None
    method: str
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return self.payload["text"]


def draw(notice: Notice) -> Drawn:
    message = RENDERER.render(notice)
    payload: dict[str, Any] = {"text": message.text}
    if message.blocks:
        payload["blocks"] = message.blocks
    method = "chat.postMessage"
    if notice.updates is not None:
        method, payload["ts"] = "chat.update", notice.updates
    return Drawn(notice.kind, notice.recipient, notice.dedupe_key, method, payload)


def draw_row(row: OutboxMessage) -> Drawn:
    return draw(stored_notice(row))
