"""Starting, replacing and resending invites (`InviteDesk`): the checks in the chat tool, the
use case, the post through the transport (`bot.ports.InviteChannel`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.core.model import InviteStatus, StartRequest
from bot.ports import InviteChannel, InviteFailed
from bot.reports import OnboardingSummary
from bot.usecases.manager import ManagerTools
from bot.usecases.providers import SoapEnded
from storage.repository import OpenOnboardingExists


class OnboardingEnded(Exception):
    """The onboarding has ended; there is nothing to resend."""

    def __init__(self, state: str):
        self.state = state
        super().__init__(f"the onboarding has ended ({state})")


# What became of a request to start an onboarding.
STARTED = "started"
BOT_NOT_IN_CHANNEL = "bot_not_in_channel"
ALREADY_RUNNING = "already_running"
POST_FAILED = "post_failed"
# Nmbrs' SOAP API has ended and new onboardings are still set to use it (NMBRS_API=soap).
SOAP_ENDED = "soap_ended"

# Looks for a running onboarding before giving up; a second one is needed only when the
# onboarding that won a race in the database has ended before the look.
START_ATTEMPTS = 3


@dataclass(frozen=True)
class StartResult:
    kind: str
    request: StartRequest
    invite: InviteStatus | None = None
    running: OnboardingSummary | None = None
    not_externally_shared: bool = False
    dm_sent: bool = False
    dm_error: str | None = None
    error: str | None = None


class InviteDesk:
    """Starting, replacing and resending invites: the checks in Slack, the use case, the post.

    The order matters: the bot must be in the channel before anything is created, and a
    channel with a running onboarding gets a choice (resend or replace), not a duplicate.
    A DM that fails is reported to the manager; the channel invite stands regardless.
    """

    def __init__(self, tools: ManagerTools, channel: InviteChannel, *, home_team: str):
        self._tools = tools
        self._channel = channel
        self._home_team = home_team

    async def start(
        self, request: StartRequest, *, manager: str, replacing: int | None = None
    ) -> StartResult:
        info = await self._channel.channel(request.channel_id)
        if not info.bot_is_member:
            return StartResult(BOT_NOT_IN_CHANNEL, request)
        team_id = info.external_team_id or self._home_team
        for attempt in range(START_ATTEMPTS):
            if replacing is None:
                running = await asyncio.to_thread(self._tools.open_for_channel, request.channel_id)
                if running is not None:
                    return StartResult(ALREADY_RUNNING, request, running=running)
            try:
                if replacing is None:
                    invite = await asyncio.to_thread(
                        self._tools.start, request, team_id=team_id, manager=manager
                    )
                else:
                    invite = await asyncio.to_thread(
                        self._tools.replace, replacing, request, team_id=team_id, manager=manager
                    )
                break
            except SoapEnded as ended:
                return StartResult(SOAP_ENDED, request, error=ended.ended_on.isoformat())
            except OpenOnboardingExists:
                # Another process started one in this channel since the look: show it.
                if attempt == START_ATTEMPTS - 1:
                    raise
                replacing = None
        try:
            invite = await self._channel.post_invite(invite)
        except InviteFailed as error:
            return StartResult(POST_FAILED, request, invite=invite, error=error.code)
        dm_error = None
        if request.contact_user_id:
            dm_error = await self._channel.send_dm(request.contact_user_id, invite)
        return StartResult(
            STARTED,
            request,
            invite=invite,
            not_externally_shared=not info.externally_shared,
            dm_sent=bool(request.contact_user_id) and dm_error is None,
            dm_error=dm_error,
        )

    async def resend(self, onboarding_id: int, *, manager: str) -> InviteStatus:
        """Post the invite of an open onboarding again (and DM the contact again).
        OnboardingEnded when it has ended; InviteFailed when Slack refuses."""
        summary = await asyncio.to_thread(self._tools.summary, onboarding_id)
        if not summary.is_open:
            raise OnboardingEnded(summary.state)
        status = await asyncio.to_thread(self._tools.invite_status, onboarding_id)
        status = await self._channel.post_invite(status)
        if summary.contact_user_id:
            await self._channel.send_dm(summary.contact_user_id, status)
        await asyncio.to_thread(self._tools.record_resent, onboarding_id, manager=manager)
        return status
