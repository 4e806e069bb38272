"""`/onboard` for account managers: the command, its start modal and the buttons on its result.

`/onboard` opens the start modal, `/onboard status` lists the open onboardings, `/onboard help`
(or any other text) explains. Only account managers get further than the help: anyone else gets
an ephemeral refusal and nothing is created. Every listener acks first; the Web API lookups and
the use cases run after the ack, and what they end in reaches the manager in Slack. The gate,
the invite desk and the result screens are the account manager's Slack side (managers.py),
shared with the App Home.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.transports.slack.answers import new_external_id, replace_view, run_blocking
from bot.transports.slack.managers import ManagerSlack
from bot.transports.slack.mrkdwn import ONBOARD_COMMAND
from bot.transports.slack.views.manager import (
    ACTION_REPLACE,
    ACTION_RESEND_RUNNING,
    ACTION_RETRY,
    CALLBACK_START,
    decode_request,
    failed_modal,
    failure_text,
    help_text,
    read_start,
    refusal_text,
    start_modal,
    status_message,
    working_modal,
)

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

logger = logging.getLogger(__name__)


def register(app: AsyncApp, manager: ManagerSlack) -> None:
    language = manager.language

    @app.command(ONBOARD_COMMAND)
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
            default_language=manager.language,
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
        rows = await run_blocking(manager.services.manager.open_onboardings)
    except Exception:
        logger.exception("listing the open onboardings failed")
        await respond(text=failure_text(manager.language), response_type="ephemeral")
        return
    services = manager.services
    text, blocks = status_message(
        rows, now=services.clock.now(), language=manager.language, calendar=services.calendar
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
