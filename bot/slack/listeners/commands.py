"""`/onboard` for account managers: the command, its start modal and the buttons on its result.

`/onboard` opens the start modal, `/onboard status` lists the open onboardings, `/onboard help`
(or any other text) explains. Only account managers get further than the help: anyone else gets
an ephemeral refusal and nothing is created. Every listener acks first; the Web API lookups and
the use cases run after the ack, and what they end in reaches the manager in Slack.

Also here: `ManagerSlack`, the Slack side the account manager's listeners share (the gate's
lookups, the invite channel, the views' language and calendar); events.py uses it for the App
Home.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock, WorkingCalendar
from bot.core.model import InviteStatus, StartRequest
from bot.manager import ManagerGate, SlackPerson, manager_tools
from bot.ports import ChannelInfo, InviteFailed
from bot.schedule import working_calendar
from bot.slack.conversation import new_external_id, post_invite, replace_view
from bot.slack.views.manager import (
    ACTION_REPLACE,
    ACTION_RESEND_RUNNING,
    ACTION_RETRY,
    CALLBACK_START,
    decode_request,
    dm_text,
    ended_text,
    failed_modal,
    failure_text,
    help_text,
    read_start,
    refusal_text,
    resend_failed_text,
    resent_modal,
    start_modal,
    start_result_modal,
    status_message,
    working_modal,
)
from bot.usecases.invites import InviteDesk, OnboardingEnded
from bot.usecases.manager import ManagerTools
from bot.usecases.onboarding import OnboardingService

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.bootstrap import Container

logger = logging.getLogger(__name__)

COMMAND = "/onboard"


class SlackDirectory:
    """Who we are and who someone is, read from the Web API (our identity once)."""

    def __init__(self, client: AsyncWebClient):
        self._client = client
        self._identity: dict[str, Any] | None = None

    async def _auth(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = dict((await self._client.auth_test()).data)  # type: ignore[arg-type]
        return self._identity

    async def home_team(self) -> str:
        return str((await self._auth())["team_id"])

    async def bot_name(self) -> str:
        return str((await self._auth()).get("user") or "onboarding")

    async def person(self, user_id: str) -> SlackPerson:
        user = (await self._client.users_info(user=user_id))["user"]
        return SlackPerson(
            user_id=user_id,
            team_id=user.get("team_id"),
            is_bot=bool(user.get("is_bot")),
            is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            deleted=bool(user.get("deleted")),
        )

    async def group_members(self, group_id: str) -> frozenset[str]:
        answer = await self._client.usergroups_users_list(usergroup=group_id)
        return frozenset(answer.get("users") or [])


class SlackInviteChannel:
    """The Slack side of posting an invite (bot.manager.InviteChannel)."""

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


@dataclass
class ManagerSlack:
    """What the account manager's listeners share."""

    tools: ManagerTools
    desk_channel: SlackInviteChannel
    directory: SlackDirectory
    gate: ManagerGate
    language: str
    default_language: str
    calendar: WorkingCalendar
    clock: Clock

    @classmethod
    def build(cls, app: AsyncApp, container: Container) -> ManagerSlack:
        settings = container.settings
        directory = SlackDirectory(app.client)
        return cls(
            tools=manager_tools(container),
            desk_channel=SlackInviteChannel(app.client, container.onboarding, directory),
            directory=directory,
            gate=ManagerGate(
                home_team=directory.home_team,
                lookup_person=directory.person,
                lookup_group=directory.group_members,
                group_id=settings.account_manager_group,
            ),
            language=settings.default_language,
            default_language=settings.default_language,
            calendar=working_calendar(settings),
            clock=SystemClock(),
        )

    async def desk(self) -> InviteDesk:
        return InviteDesk(self.tools, self.desk_channel, home_team=await self.directory.home_team())

    async def start(self, manager: str, request: StartRequest, *, replacing: int | None) -> View:
        """The result screen of starting (or replacing) an onboarding."""
        refusal = await self.gate.refusal(manager)
        if refusal is not None:
            return failed_modal(self.language, refusal_text(self.language, refusal))
        try:
            desk = await self.desk()
            result = await desk.start(request, manager=manager, replacing=replacing)
            bot_name = await self.directory.bot_name()
        except Exception:
            logger.exception("starting an onboarding failed")
            return failed_modal(self.language, failure_text(self.language))
        return start_result_modal(result, self.language, bot_name=bot_name, now=self.clock.now())

    async def resend(self, manager: str, onboarding_id: int) -> View:
        refusal = await self.gate.refusal(manager)
        if refusal is not None:
            return failed_modal(self.language, refusal_text(self.language, refusal))
        try:
            status = await (await self.desk()).resend(onboarding_id, manager=manager)
        except OnboardingEnded as ended:
            return failed_modal(self.language, ended_text(self.language, ended.state))
        except InviteFailed as failed:
            return failed_modal(self.language, resend_failed_text(self.language, failed.code))
        except Exception:
            logger.exception("resending invite %s failed", onboarding_id)
            return failed_modal(self.language, failure_text(self.language))
        return resent_modal(status, self.language)


def register(app: AsyncApp, container: Container) -> None:
    manager = ManagerSlack.build(app, container)
    language = manager.language

    @app.command(COMMAND)
    async def onboard(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        text = " ".join((command.get("text") or "").lower().split())
        if text not in ("", "status"):
            await ack(text=help_text(language))
            return
        await ack()
        refusal = await manager.gate.refusal(command["user_id"])
        if refusal is not None:
            await respond(text=refusal_text(language, refusal), response_type="ephemeral")
            return
        if text == "status":
            await _answer_status(manager, respond)
            return
        channel_id = command.get("channel_id") or ""
        view = start_modal(
            language,
            default_language=manager.default_language,
            channel_id=channel_id if channel_id.startswith(("C", "G")) else None,
        )
        try:
            await client.views_open(trigger_id=command["trigger_id"], view=view)
        except SlackApiError as error:
            logger.warning("could not open the start modal: %s", error.response.get("error"))
            await respond(text=failure_text(language), response_type="ephemeral")

    @app.view(CALLBACK_START)
    async def start_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        request, errors = read_start(view["state"]["values"], language)
        if request is None:
            await ack(response_action="errors", errors=errors)
            return
        external_id = new_external_id()
        working = working_modal(language)
        working.external_id = external_id
        await ack(response_action="update", view=working)
        result = await manager.start(body["user"]["id"], request, replacing=None)
        await replace_view(client, result, external_id=external_id)

    @app.action(ACTION_RETRY)
    async def retry(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await _in_result_view(manager, body, client, replacing=None)

    @app.action(ACTION_REPLACE)
    async def replace(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await _in_result_view(manager, body, client, replacing=int(action["value"]))

    @app.action(ACTION_RESEND_RUNNING)
    async def resend_running(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        view_id = body["view"]["id"]
        await _update(client, view_id, working_modal(language))
        await _update(
            client, view_id, await manager.resend(body["user"]["id"], int(action["value"]))
        )


async def _answer_status(manager: ManagerSlack, respond: AsyncRespond) -> None:
    try:
        rows = await asyncio.to_thread(manager.tools.open_onboardings)
    except Exception:
        logger.exception("listing the open onboardings failed")
        await respond(text=failure_text(manager.language), response_type="ephemeral")
        return
    text, blocks = status_message(
        rows, now=manager.clock.now(), language=manager.language, calendar=manager.calendar
    )
    await respond(text=text, blocks=blocks, response_type="ephemeral")


async def _in_result_view(
    manager: ManagerSlack, body: dict[str, Any], client: AsyncWebClient, *, replacing: int | None
) -> None:
    """Try again, or replace, with the request the result view kept."""
    view_id = body["view"]["id"]
    request = decode_request(body["view"].get("private_metadata"))
    if request is None:
        await _update(
            client, view_id, failed_modal(manager.language, failure_text(manager.language))
        )
        return
    await _update(client, view_id, working_modal(manager.language))
    await _update(
        client, view_id, await manager.start(body["user"]["id"], request, replacing=replacing)
    )


async def _update(client: AsyncWebClient, view_id: str, view: View) -> None:
    try:
        await client.views_update(view_id=view_id, view=view)
    except SlackApiError as error:
        logger.info("the result view is gone: %s", error.response.get("error"))
