"""The account manager's use cases, and the scheduled work done on their behalf.

- Who is an account manager is the transport's question (bot.transports.slack.identity): only what
  passes its gate reaches these use cases.
- Starting an onboarding: refuse a second open one for the same channel (the manager chooses to
  resend or replace instead), else create the client and the invite through the onboarding
  service. Resend, cancel, lift a token block and unlink act on one onboarding each; every one
  is audited and reported.
- Overviews: the open onboardings (stalled first) for `/onboard status`, the App Home and the
  digest; active links for unlinking.
- Scheduled work: the daily digest, nudges in the client's channel, expiry.

No Slack calls here beyond the outbox: posting the invite and drawing views is the transport's
job (bot.transports.slack), reached through the `InviteChannel` and `InviteRedraw` protocols.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from sqlmodel import col, select

from bot import flow
from bot.clock import Clock, WorkingCalendar
from bot.events import OnboardingEvent
from bot.flow import END_STATES, Event, IllegalTransition
from bot.outbox import Message, enqueue, enqueue_once, halt_delivery
from bot.reports import OnboardingSummary, StatusReports, needing_attention_first, summarise
from bot.schedule import Job, ReminderPolicy, daily_on_working_days, hourly
from bot.service import Actor, InviteStatus, OnboardingService
from bot.settings import Settings
from storage.models import Client, Onboarding
from storage.repository import NotFound, OpenOnboardingExists, StaleUpdate, UnitOfWorkFactory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartRequest:
    """What the account manager filled in to start an onboarding."""

    client_name: str
    channel_id: str
    language: str
    contact_user_id: str | None = None


@dataclass(frozen=True)
class LinkRow:
    link_id: int
    onboarding_id: int
    client_name: str
    channel_id: str
    companies: int
    created_at: datetime


@dataclass(frozen=True)
class Dashboard:
    """The App Home: open onboardings (stalled first) and the links that can be unlinked."""

    open: list[OnboardingSummary]
    links: list[LinkRow]


@dataclass(frozen=True, kw_only=True)
class InviteResent(OnboardingEvent):
    kind: ClassVar[str] = "invite_resent"


@dataclass(frozen=True, kw_only=True)
class LinkUnlinked(OnboardingEvent):
    kind: ClassVar[str] = "link_unlinked"
    link_id: int


class InviteRedraw(Protocol):
    """The transport's invite message redrawn for the onboarding's new state, as an outbox
    message (bot.transports.slack implements it); expiry queues one for every invite it ends."""

    def __call__(self, status: InviteStatus) -> Message: ...


class ManagerTools:
    """The account manager's use cases. Blocking (database); async callers use a thread."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        service: OnboardingService,
        reports: StatusReports,
        policy: ReminderPolicy,
        clock: Clock,
        invite_redraw: InviteRedraw,
    ):
        self._unit_of_work = unit_of_work
        self._service = service
        self._reports = reports
        self._policy = policy
        self._clock = clock
        self._invite_redraw = invite_redraw

    # --- overviews --------------------------------------------------------------------------

    def open_onboardings(self, *, at: datetime | None = None) -> list[OnboardingSummary]:
        """Open onboardings, stalled first (for `/onboard status` and the App Home), as they
        stand at `at` (default: now). Scheduled work passes its due time, so a digest or nudge
        counts idle days up to the moment it is for, not the moment it happens to run."""
        now = self._clock.now() if at is None else at
        with self._unit_of_work() as uow:
            pairs = uow.onboardings.list_open()
        return needing_attention_first(
            summarise(onboarding, client, now=now, policy=self._policy)
            for onboarding, client in pairs
            if onboarding.state in flow.OPEN_STATES
        )

    def dashboard(self) -> Dashboard:
        with self._unit_of_work() as uow:
            links = [
                LinkRow(
                    link_id=summary.link.id,
                    onboarding_id=summary.link.onboarding_id,
                    client_name=summary.client.name,
                    channel_id=summary.client.conversation_id,
                    companies=len(summary.companies),
                    created_at=summary.link.created_at,
                )
                for summary in uow.links.list_summaries()
                if summary.link.revoked_at is None
            ]
        links.sort(key=lambda row: row.created_at, reverse=True)
        return Dashboard(open=self.open_onboardings(), links=links)

    def summary(self, onboarding_id: int) -> OnboardingSummary:
        now = self._clock.now()
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            client = uow.clients.get(onboarding.client_id)
            assert client is not None
        return summarise(onboarding, client, now=now, policy=self._policy)

    # --- starting -----------------------------------------------------------------------------

    def open_for_channel(self, channel_id: str) -> OnboardingSummary | None:
        """The onboarding already running in a channel, if any."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.open_for_channel(channel_id)
            if onboarding is None or onboarding.state not in flow.OPEN_STATES:
                return None
            onboarding_id = onboarding.id
        return self.summary(onboarding_id)

    def start(self, request: StartRequest, *, team_id: str, manager: str) -> InviteStatus:
        """Create the client (of Slack team `team_id`) and its onboarding in state invited;
        the invite message is posted afterwards."""
        return self._service.create_invite(
            client_name=request.client_name,
            channel_id=request.channel_id,
            team_id=team_id,
            started_by=manager,
            language=request.language,
            contact_user_id=request.contact_user_id,
        )

    def replace(
        self, onboarding_id: int, request: StartRequest, *, team_id: str, manager: str
    ) -> InviteStatus:
        """Cancel the channel's open onboarding and start a new one in its place."""
        self.cancel(onboarding_id, manager=manager)
        return self.start(request, team_id=team_id, manager=manager)

    # --- acting on one onboarding -----------------------------------------------------------

    def invite_status(self, onboarding_id: int) -> InviteStatus:
        return self._service.invite_status(onboarding_id)

    def record_resent(self, onboarding_id: int, *, manager: str) -> None:
        """Audit and report that the invite was posted again (after the transport did so)."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            client = self._client(uow, onboarding)
            self._service.event_bus.publish(
                uow, self._event(InviteResent, onboarding, client, actor=manager)
            )
            uow.commit()

    def cancel(self, onboarding_id: int, *, manager: str) -> InviteStatus:
        """End an open onboarding; IllegalTransition when it has already ended."""
        return self._service.cancel(onboarding_id, Actor(manager))

    def lift_block(self, onboarding_id: int, *, manager: str) -> None:
        self._service.lift_block(onboarding_id, Actor(manager))

    def unlink(self, link_id: int, *, manager: str) -> str | None:
        """Erase the link's token and mark its onboarding unlinked; the audit trail stays.
        Returns the client's name, or None when it was unlinked before (nothing changes)."""
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            if not uow.links.unlink(link, actor=manager, at=self._clock.now()):
                return None
            onboarding = uow.onboardings.require(link.onboarding_id)
            client = self._client(uow, onboarding)
            if flow.allows(onboarding.state, Event.UNLINK):
                before = onboarding.state
                onboarding.state = flow.next_state(before, Event.UNLINK).value
                onboarding.updated_at = self._clock.now()
                uow.audit.record(
                    "state_changed",
                    actor=manager,
                    onboarding_id=onboarding.id,
                    detail={"from": before, "to": onboarding.state, "event": Event.UNLINK.value},
                    at=onboarding.updated_at,
                )
            # The link's own audit entry (link_unlinked) is written by the repository.
            self._reports(uow, self._event(LinkUnlinked, onboarding, client, manager, link_id))
            uow.commit()
            return client.name

    def halt_sending(self, *, team_id: str, reason: str) -> None:
        """Slack took our access away (app_uninstalled, tokens_revoked): record it and stop
        every message from now on."""
        now = self._clock.now()
        with self._unit_of_work() as uow:
            halt_delivery(uow.session, team_id=team_id, reason=reason, now=now)
            uow.audit.record(reason, actor="slack", detail={"team_id": team_id}, at=now)
            uow.commit()
        logger.warning("Slack reported %s for team %s: all sending stopped", reason, team_id)

    # --- scheduled work ---------------------------------------------------------------------

    def send_digest(self, due_at: datetime) -> None:
        """The digest for `due_at`'s day: open ones per state, what ended since the previous
        digest, the stalled ones."""
        calendar = self._policy.calendar
        today = calendar.local(due_at).date()
        previous = calendar.at(calendar.previous_working_day(today), calendar.local(due_at).time())
        open_rows = self.open_onboardings(at=due_at)
        with self._unit_of_work() as uow:
            ended: dict[str, int] = {}
            for state in uow.session.exec(
                select(Onboarding.state)
                .where(col(Onboarding.state).in_([s.value for s in END_STATES]))
                .where(col(Onboarding.last_progress_at) >= previous)
                .where(col(Onboarding.last_progress_at) < due_at)
            ):
                ended[state] = ended.get(state, 0) + 1
            message = self._reports.digest(open_rows, ended, day=today)
            enqueue_once(uow.session, message, now=self._clock.now())
            uow.commit()

    def send_nudges(self, due_at: datetime) -> int:
        """Nudge every open onboarding whose nudge is due and not yet sent; returns how many."""
        rows = self.open_onboardings(at=due_at)
        sent = 0
        with self._unit_of_work() as uow:
            for row in rows:
                number = self._policy.nudge_due(row.last_progress_at, due_at)
                if number is None:
                    continue
                if enqueue_once(uow.session, self._reports.nudge(row, number), now=due_at):
                    uow.audit.record(
                        "nudge_sent",
                        actor="system",
                        onboarding_id=row.onboarding_id,
                        detail={"nudge": number, "idle_working_days": row.idle_working_days},
                        at=self._clock.now(),
                    )
                    sent += 1
            uow.commit()
        return sent

    def expire_overdue(self, due_at: datetime) -> list[InviteStatus]:
        """Expire every open onboarding past its `expires_at`; returns their invite states."""
        with self._unit_of_work() as uow:
            overdue = [onboarding.id for onboarding in uow.onboardings.due_for_expiry(due_at)]
        expired = []
        for onboarding_id in overdue:
            try:
                expired.append(self._service.expire(onboarding_id))
            except (IllegalTransition, StaleUpdate, NotFound):
                logger.info("onboarding %s moved on before it could expire", onboarding_id)
        # Redraw the invite messages (no Start button any more) through the outbox.
        updates = [self._invite_redraw(status) for status in expired if status.message_ts]
        if updates:
            with self._unit_of_work() as uow:
                for message in updates:
                    enqueue(uow.session, message, now=self._clock.now())
                uow.commit()
        return expired

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _client(uow, onboarding: Onboarding) -> Client:  # type: ignore[no-untyped-def]
        client = uow.clients.get(onboarding.client_id)
        assert client is not None, "an onboarding always has a client"
        return client

    def _event(
        self,
        event_type: type[OnboardingEvent],
        onboarding: Onboarding,
        client: Client,
        actor: str,
        link_id: int | None = None,
    ) -> OnboardingEvent:
        extra = {} if link_id is None else {"link_id": link_id}
        return event_type(
            onboarding_id=onboarding.id,
            client_id=client.id,
            client_name=client.name,
            channel_id=client.conversation_id,
            actor=actor,
            at=self._clock.now(),
            **extra,
        )


@dataclass(frozen=True)
class ChannelInfo:
    """What Slack says about the channel chosen for an invite."""

    found: bool
    bot_is_member: bool
    externally_shared: bool
    # The customer's workspace in a Slack Connect channel (None when not shared).
    external_team_id: str | None = None


class OnboardingEnded(Exception):
    """The onboarding has ended; there is nothing to resend."""

    def __init__(self, state: str):
        self.state = state
        super().__init__(f"the onboarding has ended ({state})")


class InviteFailed(Exception):
    """Slack refused the invite message; `code` is Slack's error."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(f"the invite could not be posted: {code}")


class InviteChannel(Protocol):
    """The transport's side of posting invites (bot.transports.slack implements it)."""

    async def channel(self, channel_id: str) -> ChannelInfo: ...

    async def post_invite(self, status: InviteStatus) -> InviteStatus:
        """Post the invite message; InviteFailed when Slack refuses."""
        ...

    async def send_dm(self, user_id: str, status: InviteStatus) -> str | None:
        """Tell the contact in a direct message; Slack's error code when that fails."""
        ...


# What became of a request to start an onboarding.
STARTED = "started"
BOT_NOT_IN_CHANNEL = "bot_not_in_channel"
ALREADY_RUNNING = "already_running"
POST_FAILED = "post_failed"

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


def scheduled_jobs(
    tools: ManagerTools, *, calendar: WorkingCalendar, settings: Settings
) -> list[Job]:
    """The digest at DIGEST_TIME on working days, nudges every working hour, expiry hourly."""
    working_hours = (settings.working_hours_start, settings.working_hours_end)
    return [
        Job("digest", daily_on_working_days(calendar, settings.digest_time), tools.send_digest),
        Job("nudges", hourly(calendar, within=working_hours), tools.send_nudges),
        Job("expiry", hourly(calendar), tools.expire_overdue),
    ]
