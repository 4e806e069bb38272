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


def mrkdwn_objects(payload: Any) -> list[dict[str, Any]]:
    """Every mrkdwn text object in a payload (a message's blocks, a view, nested anywhere)."""
    found: list[dict[str, Any]] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" and "text" in payload:
            found.append(payload)
        for value in payload.values():
            found += mrkdwn_objects(value)
    elif isinstance(payload, list):
        for value in payload:
            found += mrkdwn_objects(value)
    return found


def not_verbatim(payload: Any) -> list[str]:
    """The texts of the mrkdwn objects Slack would auto-link (bare URLs, channel names)."""
    return [obj["text"] for obj in mrkdwn_objects(payload) if obj.get("verbatim") is not True]
