"""The invite message in the client's channel: posting it, redrawing it, and the Slack side of
the account manager's InviteDesk.

- `post_invite(...)`: posts the invite with its Start button and remembers where it is.
- `refresh_invite(...)`: redraws it at once after a step; a failure is logged, the next step
  redraws it again.
- `SlackInviteChannel`: the channel checks, the post and the contact's direct message
  (bot.ports.InviteChannel).
"""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import InviteStatus
from bot.ports import ChannelInfo, InviteFailed
from bot.transports.slack.answers import run_blocking
from bot.transports.slack.identity import SlackDirectory
from bot.transports.slack.views.invite import invite_message
from bot.transports.slack.views.manager import dm_text
from bot.usecases.onboarding import OnboardingService

logger = logging.getLogger(__name__)


async def post_invite(
    client: AsyncWebClient, service: OnboardingService, status: InviteStatus
) -> InviteStatus:
    """Post the invite message with its Start button and remember where it is."""
    message = invite_message(status)
    response = await client.chat_postMessage(
        channel=status.channel_id, text=message.text, blocks=message.blocks
    )
    await run_blocking(
        service.record_invite,
        status.onboarding_id,
        channel_id=response["channel"],
        message_ts=response["ts"],
    )
    return await run_blocking(service.invite_status, status.onboarding_id)


async def refresh_invite(client: AsyncWebClient, status: InviteStatus | None) -> None:
    """Redraw the invite message; a failure is logged, the next step redraws it again."""
    if status is None or status.message_ts is None:
        return
    message = invite_message(status)
    try:
        await client.chat_update(
            channel=status.channel_id,
            ts=status.message_ts,
            text=message.text,
            blocks=message.blocks,
        )
    except SlackApiError as error:
        logger.warning("could not update the invite message: %s", error.response.get("error"))
    except (TimeoutError, aiohttp.ClientError) as error:
        logger.warning("could not update the invite message: %s", type(error).__name__)


class SlackInviteChannel:
    """The Slack side of posting an invite (bot.ports.InviteChannel)."""

    def __init__(
        self, client: AsyncWebClient, service: OnboardingService, directory: SlackDirectory
    ):
        self._client = client
        self._service = service
        self._directory = directory

    async def channel(self, channel_id: str) -> ChannelInfo:
        try:
            channel = (await self._client.conversations_info(channel=channel_id))["channel"]
        except SlackApiError as error:
            if error.response.get("error") in ("channel_not_found", "not_in_channel"):
                return ChannelInfo(found=False, bot_is_member=False, externally_shared=False)
            raise
        home_team = await self._directory.home_team()
        others = [team for team in channel.get("shared_team_ids") or [] if team != home_team]
        return ChannelInfo(
            found=True,
            bot_is_member=bool(channel.get("is_member")),
            externally_shared=bool(channel.get("is_ext_shared")),
            external_team_id=others[0] if others else None,
        )

    async def post_invite(self, status: InviteStatus) -> InviteStatus:
        try:
            return await post_invite(self._client, self._service, status)
        except SlackApiError as error:
            raise InviteFailed(str(error.response.get("error"))) from error

    async def send_dm(self, user_id: str, status: InviteStatus) -> str | None:
        try:
            opened = await self._client.conversations_open(users=user_id)
            await self._client.chat_postMessage(
                channel=opened["channel"]["id"], text=dm_text(status)
            )
        except SlackApiError as error:
            code = str(error.response.get("error"))
            logger.info("direct message to the contact failed: %s", code)
            return code
        return None
