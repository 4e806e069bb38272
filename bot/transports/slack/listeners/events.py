"""Workspace events: `app_uninstalled` and `tokens_revoked` (of the bot's token) stop all
sending and are recorded."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    tools = services.manager

    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any]) -> None:
        await asyncio.to_thread(
            tools.halt_sending, team_id=str(body.get("team_id")), reason="app_uninstalled"
        )

    @app.event("tokens_revoked")
    async def tokens_revoked(event: dict[str, Any], body: dict[str, Any]) -> None:
        bot_tokens = (event.get("tokens") or {}).get("bot") or []
        if not bot_tokens:
            logger.info("Slack revoked user tokens only; the bot keeps sending")
            return
        await asyncio.to_thread(
            tools.halt_sending, team_id=str(body.get("team_id")), reason="tokens_revoked"
        )
