"""The invite message in the client's channel: posting it, redrawing it, and the Slack side of
the account manager's InviteDesk.

- `post_invite(...)`: posts the invite with its Start button and remembers where it is; marked
  with message metadata, so a post that timed out is found in the channel's history and never
  doubled (needs channels:history / groups:history; without them it posts as before).
- `refresh_invite(...)`: redraws it at once after a step; a failure is logged, the next step
  redraws it again.
- `SlackInviteChannel`: the channel checks, the post and the contact's direct message
  (bot.ports.InviteChannel).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import InviteStatus
from bot.ports import ChannelInfo, InviteFailed
from bot.transports.slack.answers import run_blocking
from bot.transports.slack.identity import SlackDirectory
from bot.transports.slack.mrkdwn import NO_UNFURL, verbatim_sections
from bot.transports.slack.views.invite import invite_message
from bot.transports.slack.views.manager import dm_text
from bot.usecases.onboarding import OnboardingService

logger = logging.getLogger(__name__)


# The mark on every invite message: an invite whose post got no answer (a timeout) but went out
# after all is found again in the channel's history, so it is recorded, not posted a second time.
INVITE_EVENT = "onboarding_invite"
# How far back the channel's history is searched for such an invite (newest first).
HISTORY_LOOKBACK = 50


def invite_metadata(onboarding_id: int) -> dict[str, Any]:
    return {"event_type": INVITE_EVENT, "event_payload": {"onboarding_id": onboarding_id}}


async def unrecorded_invite(client: AsyncWebClient, status: InviteStatus) -> str | None:
    """The ts of an invite of this onboarding newer than the recorded one (a post whose answer
    never came), or None: there is none, or Slack cannot say (then posting goes ahead)."""
    arguments: dict[str, Any] = {
        "channel": status.channel_id,
        "include_all_metadata": True,
        "limit": HISTORY_LOOKBACK,
    }
    if status.message_ts is not None:
        arguments["oldest"] = status.message_ts
    try:
        answer = await client.conversations_history(**arguments)
    except SlackApiError as error:
        logger.warning("could not look for an earlier invite: %s", error.response.get("error"))
        return None
    except (TimeoutError, aiohttp.ClientError) as error:
        logger.warning("could not look for an earlier invite: %s", type(error).__name__)
        return None
    for message in answer.get("messages") or []:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == INVITE_EVENT and str(payload.get("onboarding_id")) == str(
            status.onboarding_id
        ):
            return str(message["ts"])
    return None


async def post_invite(
    client: AsyncWebClient, service: OnboardingService, status: InviteStatus
) -> InviteStatus:
    """Post the invite message with its Start button and remember where it is, once: an invite
    of this onboarding in the channel that was never recorded (its post timed out, and Slack
    posted it after all) is recorded instead of posting another, and a post that times out is
    looked for before it counts as failed."""
    channel, ts = status.channel_id, await unrecorded_invite(client, status)
    if ts is None:
        message = invite_message(status)
        try:
            response = await client.chat_postMessage(
                channel=status.channel_id,
                text=message.text,
                blocks=message.blocks,
                metadata=invite_metadata(status.onboarding_id),
                **NO_UNFURL,
            )
            channel, ts = response["channel"], response["ts"]
        except (TimeoutError, aiohttp.ClientError):
            ts = await unrecorded_invite(client, status)
            if ts is None:
                raise
    await run_blocking(
        service.record_invite, status.onboarding_id, channel_id=channel, message_ts=ts
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
            text = dm_text(status)
            await self._client.chat_postMessage(
                channel=opened["channel"]["id"],
                text=text,
                blocks=verbatim_sections(text),
                **NO_UNFURL,
            )
        except SlackApiError as error:
            code = str(error.response.get("error"))
            logger.info("direct message to the contact failed: %s", code)
            return code
        return None
