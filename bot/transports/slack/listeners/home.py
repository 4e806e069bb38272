"""The App Home: the account managers' dashboard with its buttons (drawn by views/home.py from
the use case's Dashboard).

- `app_home_opened` publishes the dashboard for an account manager, a short note for anyone else.
- "New onboarding" opens the start modal `/onboard` opens (the same listener takes it over).
- The dashboard's buttons (resend, cancel, lift a token block, tick a handoff off, unlink,
  confirm a relink to another Nmbrs environment) each ack, check the account manager again, run
  one use case and publish the refreshed dashboard with a line saying what happened (or why
  not).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.flow import IllegalTransition
from bot.i18n import catalogue
from bot.ports import InviteFailed
from bot.transports.slack.answers import run_blocking
from bot.transports.slack.invites import refresh_invite
from bot.transports.slack.managers import ManagerSlack
from bot.transports.slack.mrkdwn import bold, escape
from bot.transports.slack.views.home import (
    ACTION_CANCEL,
    ACTION_CONFIRM_ENVIRONMENT,
    ACTION_HANDOFF_DONE,
    ACTION_LIFT_BLOCK,
    ACTION_NEW_ONBOARDING,
    ACTION_RESEND,
    ACTION_UNLINK,
    home_view,
    not_a_manager_home,
    notice_text,
)
from bot.transports.slack.views.manager import failure_text, start_modal
from bot.usecases.invites import OnboardingEnded
from storage.repository import NotFound

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

logger = logging.getLogger(__name__)

# A button's use case: (manager, id from the button) -> the notice to show.
HomeAction = Callable[[str, int], Awaitable[str]]


def register(app: AsyncApp, manager: ManagerSlack) -> None:
    language = manager.language
    tools = manager.services.manager
    links = manager.services.links
    calendar = manager.services.calendar
    clock = manager.services.clock

    async def publish_home(client: AsyncWebClient, user_id: str, notice: str | None) -> None:
        refusal = await manager.gate.refusal(user_id)
        if refusal is not None:
            view = not_a_manager_home(language)
        else:
            dashboard = await run_blocking(tools.dashboard)
            view = home_view(
                dashboard,
                now=clock.now(),
                language=language,
                calendar=calendar,
                notice=notice,
            )
        try:
            await client.views_publish(user_id=user_id, view=view)
        except SlackApiError as error:
            logger.warning("could not publish the App Home: %s", error.response.get("error"))

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home":
            await publish_home(client, event["user"], None)

    @app.action(ACTION_NEW_ONBOARDING)
    async def new_onboarding(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The start modal of `/onboard`, opened at once (a trigger lives 3 s)."""
        await ack()
        user_id = body["user"]["id"]
        if await manager.gate.refusal(user_id) is not None:
            await publish_home(client, user_id, None)
            return
        view = start_modal(language, default_language=language)
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as error:
            logger.warning("could not open the start modal: %s", error.response.get("error"))
            await publish_home(client, user_id, failure_text(language))

    def on_button(action_id: str, use_case: HomeAction) -> None:
        @app.action(action_id)
        async def clicked(
            ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
        ) -> None:
            await ack()
            user_id = body["user"]["id"]
            if await manager.gate.refusal(user_id) is not None:
                await publish_home(client, user_id, None)
                return
            try:
                notice = await use_case(user_id, int(action["value"]))
            except (IllegalTransition, OnboardingEnded, NotFound):
                notice = notice_text(language, "already")
            except InviteFailed as failed:
                notice = notice_text(language, "failed", error=failed.code)
            except Exception:
                logger.exception("App Home action %s failed", action_id)
                notice = failure_text(language)
            await publish_home(client, user_id, notice)

    async def resend(user_id: str, onboarding_id: int) -> str:
        status = await (await manager.desk()).resend(onboarding_id, manager=user_id)
        return notice_text(language, "resent", client=status.client_name)

    async def cancel(user_id: str, onboarding_id: int) -> str:
        status = await run_blocking(tools.cancel, onboarding_id, manager=user_id)
        await refresh_invite(app.client, status)
        return notice_text(language, "cancelled", client=status.client_name)

    async def lift_block(user_id: str, onboarding_id: int) -> str:
        await run_blocking(tools.lift_block, onboarding_id, manager=user_id)
        summary = await run_blocking(tools.summary, onboarding_id)
        return notice_text(language, "lifted", client=summary.client_name)

    async def handoff_done(user_id: str, onboarding_id: int) -> str:
        client_name = await run_blocking(tools.handoff_done, onboarding_id, manager=user_id)
        if client_name is None:
            return notice_text(language, "already")
        return catalogue(language).text(
            "manager.desk.notice_done", client=bold(escape(client_name))
        )

    async def unlink(user_id: str, link_id: int) -> str:
        unlinked = await run_blocking(tools.unlink, link_id, manager=user_id)
        if unlinked is None:
            return notice_text(language, "already")
        if unlinked.revocation_failed:
            return notice_text(language, "unlinked_not_revoked", client=unlinked.client_name)
        return notice_text(language, "unlinked", client=unlinked.client_name)

    async def confirm_environment(user_id: str, link_id: int) -> str:
        confirmed = await run_blocking(links.confirm_environment, link_id, manager=user_id)
        if confirmed is None:
            return notice_text(language, "already")
        if confirmed.invite is not None:
            await refresh_invite(app.client, confirmed.invite)
        return notice_text(language, "environment_confirmed", client=confirmed.client_name)

    on_button(ACTION_RESEND, resend)
    on_button(ACTION_CANCEL, cancel)
    on_button(ACTION_LIFT_BLOCK, lift_block)
    on_button(ACTION_HANDOFF_DONE, handoff_done)
    on_button(ACTION_UNLINK, unlink)
    on_button(ACTION_CONFIRM_ENVIRONMENT, confirm_environment)
