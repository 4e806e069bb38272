"""The Slack side of the account manager, and the wiring of their tools (both on their way
into the Slack transport and the composition root; the use cases are `bot.usecases.manager`).

- Who is an account manager: a member of our own workspace (not a guest, not a bot), and, when
  ACCOUNT_MANAGER_GROUP is set, a member of that user group. `ManagerGate` decides from what
  Slack says about the person (looked up by the transport and cached briefly).
- `invite_update`: the outbox message that redraws an invite (expiry hands it to the use case).
- The factories of the manager's tools, the outbox worker and the scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.core.model import InviteStatus
from bot.outbox import Message, OutboxWorker
from bot.reports import status_reports
from bot.schedule import Runner, Scheduler, reminder_policy, working_calendar
from bot.slack.views.invite import invite_message
from bot.usecases.manager import ManagerTools
from bot.usecases.scheduled import link_jobs, scheduled_jobs

if TYPE_CHECKING:
    from bot.bootstrap import Container

logger = logging.getLogger(__name__)

# Why someone may not use the account manager's tools.
REFUSED_EXTERNAL = "external"
REFUSED_NOT_A_MEMBER = "not_a_member"
REFUSED_NOT_IN_GROUP = "not_in_group"
REFUSED_UNKNOWN = "unknown"

GROUP_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class SlackPerson:
    """What Slack says about a user (users.info)."""

    user_id: str
    team_id: str | None
    is_bot: bool = False
    is_guest: bool = False
    deleted: bool = False


def refusal_reason(
    person: SlackPerson, *, home_team: str, group_members: frozenset[str] | None
) -> str | None:
    """None when `person` may use the account manager's tools, else why not."""
    if person.team_id != home_team:
        return REFUSED_EXTERNAL
    if person.is_bot or person.is_guest or person.deleted:
        return REFUSED_NOT_A_MEMBER
    if group_members is not None and person.user_id not in group_members:
        return REFUSED_NOT_IN_GROUP
    return None


class ManagerGate:
    """Checks account managers with lookups the transport supplies; group members are cached
    for a minute, so a busy App Home does not call usergroups.users.list on every click."""

    def __init__(
        self,
        *,
        home_team: Callable[[], Awaitable[str]],
        lookup_person: Callable[[str], Awaitable[SlackPerson]],
        lookup_group: Callable[[str], Awaitable[frozenset[str]]],
        group_id: str | None,
    ):
        self._home_team = home_team
        self._lookup_person = lookup_person
        self._lookup_group = lookup_group
        self._group_id = group_id or None
        self._group_cache: tuple[float, frozenset[str]] | None = None

    async def refusal(self, user_id: str) -> str | None:
        """None for an account manager; the reason otherwise (also when Slack cannot say)."""
        try:
            # At once: a slash command's trigger_id lives 3 s, and a rate-limited lookup waits.
            person, home_team, members = await asyncio.gather(
                self._lookup_person(user_id), self._home_team(), self._group_members()
            )
        except Exception:
            logger.warning("could not check whether %s is an account manager", user_id)
            return REFUSED_UNKNOWN
        return refusal_reason(person, home_team=home_team, group_members=members)

    async def _group_members(self) -> frozenset[str] | None:
        if self._group_id is None:
            return None
        cached = self._group_cache
        if cached is not None and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        members = await self._lookup_group(self._group_id)
        self._group_cache = (time.monotonic(), members)
        return members


def invite_update(status: InviteStatus) -> Message:
    """The invite message redrawn for its new state, as an outbox message."""
    message = invite_message(status)
    return Message(
        kind="invite_update",
        channel=status.channel_id,
        method="chat.update",
        text=message.text,
        blocks=message.blocks,
        extra={"ts": status.message_ts},
    )


def manager_tools(container: Container, *, clock: Clock | None = None) -> ManagerTools:
    settings = container.settings
    return ManagerTools(
        unit_of_work=container.unit_of_work,
        service=container.onboarding,
        reports=status_reports(settings),
        policy=reminder_policy(settings),
        clock=clock or SystemClock(),
        redraw_invite=invite_update,
    )


def outbox_worker(container: Container, *, clock: Clock | None = None) -> OutboxWorker:
    settings = container.settings
    return OutboxWorker(
        container.engine,
        AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url),
        clock=clock or SystemClock(),
        channel_interval=settings.outbox_channel_interval_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        max_attempts=settings.outbox_max_attempts,
    )


def job_scheduler(container: Container, *, clock: Clock | None = None) -> Scheduler:
    settings = container.settings
    clock = clock or SystemClock()
    jobs = scheduled_jobs(
        manager_tools(container, clock=clock),
        calendar=working_calendar(settings),
        settings=settings,
    )
    # The daily verification of every link and the retention job.
    jobs += link_jobs(
        container.link_maintenance, calendar=working_calendar(settings), settings=settings
    )
    return Scheduler(container.engine, clock, jobs, poll_seconds=settings.scheduler_poll_seconds)


def background_work(container: Container) -> list[Runner]:
    """What `serve` runs beside the HTTP app: the outbox worker and the scheduler. Use as
    `async with bot.schedule.running_in_background(background_work(container)): ...`."""
    return [outbox_worker(container).run, job_scheduler(container).run]
