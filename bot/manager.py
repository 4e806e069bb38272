"""The account manager's use cases, and the scheduled work done on their behalf.

- Who is an account manager: a member of our own workspace (not a guest, not a bot), and, when
  ACCOUNT_MANAGER_GROUP is set, a member of that user group. `ManagerGate` decides from what
  Slack says about the person (looked up by the transport and cached briefly).
- Starting an onboarding: refuse a second open one for the same channel (the manager chooses to
  resend or replace instead), else create the client and the invite through the onboarding
  service. Resend, cancel, lift a token block and unlink act on one onboarding each; every one
  is audited and reported.
- Overviews: the open onboardings (stalled first) for `/onboard status`, the App Home and the
  digest; active links for unlinking.
- Scheduled work: the daily digest, nudges in the client's channel, expiry.

No Slack here: posting the invite and drawing views is the transport's job (bot.slack).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlmodel import col, select

from bot import flow
from bot.clock import Clock, WorkingCalendar
from bot.events import OnboardingEvent
from bot.flow import END_STATES, Event, IllegalTransition
from bot.outbox import enqueue_once
from bot.reports import OnboardingSummary, StatusReports, needing_attention_first, summarise
from bot.schedule import Job, ReminderPolicy, daily_on_working_days, hourly
from bot.service import Actor, InviteStatus, OnboardingService
from bot.settings import Settings
from storage.models import Client, Onboarding
from storage.repository import NotFound, StaleUpdate, UnitOfWorkFactory

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
            person = await self._lookup_person(user_id)
            home_team = await self._home_team()
            members = await self._group_members()
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


@dataclass(frozen=True)
class StartRequest:
    """What the account manager filled in to start an onboarding."""

    client_name: str
    channel_id: str
    team_id: str
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
    ):
        self._unit_of_work = unit_of_work
        self._service = service
        self._reports = reports
        self._policy = policy
        self._clock = clock

    # --- overviews --------------------------------------------------------------------------

    def open_onboardings(self) -> list[OnboardingSummary]:
        """Open onboardings, stalled first (for `/onboard status` and the App Home)."""
        now = self._clock.now()
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
                    channel_id=summary.client.slack_channel_id,
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

    def start(self, request: StartRequest, *, manager: str) -> InviteStatus:
        """Create the client and its onboarding (state invited); post the invite afterwards."""
        return self._service.create_invite(
            client_name=request.client_name,
            channel_id=request.channel_id,
            team_id=request.team_id,
            started_by=manager,
            language=request.language,
            contact_user_id=request.contact_user_id,
        )

    def replace(self, onboarding_id: int, request: StartRequest, *, manager: str) -> InviteStatus:
        """Cancel the channel's open onboarding and start a new one in its place."""
        self.cancel(onboarding_id, manager=manager)
        return self.start(request, manager=manager)

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

    def unlink(self, link_id: int, *, manager: str) -> bool:
        """Erase the link's token and mark its onboarding unlinked; the audit trail stays.
        False when it was unlinked before (nothing changes then)."""
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            if not uow.links.unlink(link, actor=manager, at=self._clock.now()):
                return False
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
            return True

    # --- scheduled work ---------------------------------------------------------------------

    def send_digest(self, due_at: datetime) -> None:
        """The digest for `due_at`'s day: open ones per state, what ended since the previous
        digest, the stalled ones."""
        calendar = self._policy.calendar
        today = calendar.local(due_at).date()
        previous = calendar.at(calendar.previous_working_day(today), calendar.local(due_at).time())
        open_rows = self.open_onboardings()
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
        rows = self.open_onboardings()
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
            channel_id=client.slack_channel_id,
            actor=actor,
            at=self._clock.now(),
            **extra,
        )


def scheduled_jobs(
    tools: ManagerTools,
    *,
    calendar: WorkingCalendar,
    settings: Settings,
    on_expired: Callable[[Sequence[InviteStatus]], None] | None = None,
) -> list[Job]:
    """The digest at DIGEST_TIME on working days, nudges every working hour, expiry hourly."""
    working_hours = (settings.working_hours_start, settings.working_hours_end)

    def expire(due_at: datetime) -> None:
        expired = tools.expire_overdue(due_at)
        if expired and on_expired is not None:
            on_expired(expired)

    return [
        Job("digest", daily_on_working_days(calendar, settings.digest_time), tools.send_digest),
        Job("nudges", hourly(calendar, within=working_hours), tools.send_nudges),
        Job("expiry", hourly(calendar), expire),
    ]
