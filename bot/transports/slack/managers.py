"""`ManagerSlack`: the Slack side the account manager's surfaces share (`/onboard` and the App
Home): the gate, the directory's lookups, the invite desk, and the result screens of starting
and resending. Built once per app, so both surfaces share one gate cache and one identity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import StartRequest
from bot.ports import InviteFailed
from bot.services import Services
from bot.transports.slack.identity import ManagerGate, SlackDirectory
from bot.transports.slack.invites import SlackInviteChannel
from bot.transports.slack.views.manager import (
    ended_text,
    failed_modal,
    failure_text,
    refusal_text,
    resend_failed_text,
    resent_modal,
    start_result_modal,
)
from bot.usecases.invites import InviteDesk, OnboardingEnded

logger = logging.getLogger(__name__)


@dataclass
class ManagerSlack:
    """What the account manager's listeners share."""

    services: Services
    desk_channel: SlackInviteChannel
    directory: SlackDirectory
    gate: ManagerGate

    @classmethod
    def build(cls, client: AsyncWebClient, services: Services) -> ManagerSlack:
        directory = SlackDirectory(client)
        return cls(
            services=services,
            desk_channel=SlackInviteChannel(client, services.onboarding, directory),
            directory=directory,
            gate=directory.gate(services.account_manager_group),
        )

    @property
    def language(self) -> str:
        return self.services.language

    async def desk(self) -> InviteDesk:
        return InviteDesk(
            self.services.manager, self.desk_channel, home_team=await self.directory.home_team()
        )

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
        return start_result_modal(
            result, self.language, bot_name=bot_name, now=self.services.clock.now()
        )

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
