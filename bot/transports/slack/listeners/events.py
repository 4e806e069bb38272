"""Workspace events: `app_uninstalled` and `tokens_revoked` stop all sending and are recorded,
but only when they are about us: our own team (the bot token's, from auth.test), and for
`tokens_revoked` only when our bot user is among the revoked. An event about another team (an
org-wide or shared install, a replay) is logged and changes nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services
    from bot.transports.slack.identity import SlackDirectory

logger = logging.getLogger(__name__)

# Slack's answers to a token that no longer works.
DEAD_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired"}
)


def register(app: AsyncApp, services: Services, directory: SlackDirectory) -> None:
    delivery = services.delivery

    async def about_us(kind: str, team_id: str, revoked_bots: list[str] | None) -> bool:
        try:
            our_team, our_bot = await directory.home_team(), await directory.bot_user_id()
        except SlackApiError as error:
            code = error.response.get("error")
            if code in DEAD_TOKEN_ERRORS:
                # Our token no longer works: whatever team the event names, nothing goes out.
                logger.warning("%s for team %s, and our token is refused (%s)", kind, team_id, code)
                return True
            logger.warning(
                "%s for team %s: cannot tell who we are (%s); not halting", kind, team_id, code
            )
            return False
        except (TimeoutError, aiohttp.ClientError) as error:
            logger.warning(
                "%s for team %s: cannot tell who we are (%s); not halting",
                kind,
                team_id,
                type(error).__name__,
            )
            return False
        if team_id != our_team:
            logger.warning("%s for team %s, not ours (%s): ignored", kind, team_id, our_team)
            return False
        if revoked_bots is not None and our_bot not in revoked_bots:
            logger.info(
                "Slack revoked tokens of team %s, not our bot's: the bot keeps sending", team_id
            )
            return False
        return True

    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any]) -> None:
        team_id = str(body.get("team_id"))
        if await about_us("app_uninstalled", team_id, None):
            await asyncio.to_thread(delivery.halt, team_id=team_id, reason="app_uninstalled")

    @app.event("tokens_revoked")
    async def tokens_revoked(event: dict[str, Any], body: dict[str, Any]) -> None:
        team_id = str(body.get("team_id"))
        revoked_bots = [str(user) for user in (event.get("tokens") or {}).get("bot") or []]
        if await about_us("tokens_revoked", team_id, revoked_bots):
            await asyncio.to_thread(delivery.halt, team_id=team_id, reason="tokens_revoked")
