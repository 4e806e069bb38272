"""The bot token's check: `auth.test` at start-up and then every SLACK_TOKEN_CHECK_MINUTES. A
good answer means the token works (again, after a reinstall), so a delivery halt recorded before
the question was asked is lifted (bot.usecases.delivery); a refused token leaves the halt as it is
and is logged."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.transports.slack.session import SharedSession
from bot.usecases.delivery import DeliveryControl

logger = logging.getLogger(__name__)


class TokenCheck:
    def __init__(
        self,
        client: AsyncWebClient,
        delivery: DeliveryControl,
        *,
        session: SharedSession,
        clock: Clock,
        interval_seconds: float,
    ):
        self._client = client
        self._delivery = delivery
        self._session = session
        self._clock = clock
        self._interval = interval_seconds

    async def run(self, stop: asyncio.Event) -> None:
        """Check now, then once per interval until `stop` is set."""
        async with self._session.open():
            while not stop.is_set():
                try:
                    await self.check()
                except Exception:
                    logger.exception("the bot token's check failed")
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)

    async def check(self) -> bool:
        """Ask Slack whether the token works; True when it does (and any older halt is lifted)."""
        asked_at = self._clock.now()
        try:
            answer = await self._client.auth_test()
        except SlackApiError as error:
            logger.warning("Slack refused the bot token (%s)", error.response.get("error"))
            return False
        except (TimeoutError, aiohttp.ClientError) as error:
            logger.info("could not check the bot token: %s", type(error).__name__)
            return False
        team_id = str(answer.get("team_id"))
        await asyncio.to_thread(self._delivery.token_confirmed, team_id=team_id, asked_at=asked_at)
        return True
