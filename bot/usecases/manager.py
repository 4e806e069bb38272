"""The account manager's use cases, and the scheduled work done on their behalf.

- Starting an onboarding: refuse a second open one for the same channel (the manager chooses to
  resend or replace instead), else create the client and the invite through the onboarding
  use cases. Resend, cancel, lift a token block and unlink act on one onboarding each; every one
  is audited and reported.
- Overviews: the open onboardings (stalled first) for `/onboard status`, the App Home and the
  digest; the handoffs still to deal with (the App Home's to-do list, until an account manager
  ticks one off); active links with their companies and last check, for unlinking; relinks to
  another Nmbrs environment to confirm.
- Scheduled work: the daily digest, nudges in the client's channel, expiry.

No chat calls here beyond the outbox: posting the invite and drawing views is the transport's
job, reached through `bot.ports.InviteChannel` (see `bot.usecases.invites.InviteDesk`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from bot.clock import Clock
from bot.core import flow, link_flow
from bot.core.events import HandoffDone, InviteResent
from bot.core.flow import END_STATES, IllegalTransition, State
from bot.core.link_flow import LinkStep
from bot.core.migration import MigrationStatus
from bot.core.model import Actor, InviteStatus, StartRequest
from bot.core.progress import OnboardingProgress
from bot.outbox import enqueue_once
from bot.reports import OnboardingSummary, StatusReports, needing_attention_first, summarise
from bot.schedule import ReminderPolicy
from bot.usecases.grants import revoke_grant
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from bot.usecases.steps import retry_on_stale
from bot.usecases.transitions import load, publish, unlink
from storage.models import Client, Onboarding
from storage.repository import NotFound, SqlUnitOfWork, StaleUpdate, UnitOfWorkFactory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkRow:
    link_id: int
    onboarding_id: int
    client_name: str
    channel_id: str
    companies: int
    created_at: datetime
    # The linked companies' names (by number), the login, the API and the last good check.
    company_names: tuple[str, ...] = ()
    login: str = ""
    provider: str = ""
    verified_at: datetime | None = None
    # "active" or "needs_relink" (bot.core.link_flow), and why it needs one.
    status: str = link_flow.LinkStatus.ACTIVE.value
    problem: str | None = None


@dataclass(frozen=True)
class HandoffToDo:
    """A handoff an account manager still has to deal with: call the client."""

    onboarding_id: int
    client_name: str
    channel_id: str
    owner: str
    reason: str
    package: str | None
    contact_user_id: str | None
    handed_off_at: datetime


@dataclass(frozen=True)
class RelinkToConfirm:
    """A relink waiting for the account manager: its new login is of another Nmbrs environment
    than the link's."""

    link_id: int
    client_name: str
    channel_id: str
    previous_login: str
    previous_environment: str
    login: str
    environment: str


@dataclass(frozen=True)
class Dashboard:
    """The App Home: relinks to confirm, open onboardings (stalled first) and the links that
    can be unlinked."""

    open: list[OnboardingSummary]
    links: list[LinkRow]
    relinks: list[RelinkToConfirm] = field(default_factory=list)
    # Handoffs not yet ticked off, newest first.
    todo: list[HandoffToDo] = field(default_factory=list)
    # Where the move of the links to the REST API stands (None: not followed).
    migration: MigrationStatus | None = None


@dataclass(frozen=True)
class Unlinked:
    """A link unlinked: its client, and whether Nmbrs could not be told to revoke its grant."""

    client_name: str
    revocation_failed: bool = False


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
        providers: Providers | None = None,
        migration: Callable[[], MigrationStatus] | None = None,
    ):
        # The providers links name, to revoke a REST grant on unlink (None: nothing revoked).
        self._providers = providers
        self._unit_of_work = unit_of_work
        self._service = service
        self._reports = reports
        self._policy = policy
        self._clock = clock
        # Where the move to the REST API stands (bot.usecases.migration), for Home and digest.
        self._migration = migration

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
        now = self._clock.now()
        with self._unit_of_work() as uow:
            active = [s for s in uow.links.list_summaries() if s.link.revoked_at is None]
            links = [
                LinkRow(
                    link_id=summary.link.id or 0,
                    onboarding_id=summary.link.onboarding_id,
                    client_name=summary.client.name,
                    channel_id=summary.client.conversation_id,
                    companies=len(summary.companies),
                    created_at=summary.link.created_at,
                    company_names=tuple(company.name for company in summary.companies),
                    login=summary.link.account_label,
                    provider=summary.link.provider,
                    verified_at=summary.link.verified_at,
                    status=summary.link.status,
                    problem=(summary.link.problem or {}).get("reason"),
                )
                for summary in active
            ]
            todo = self._handoffs_to_do(uow)
            ids = [summary.link.onboarding_id for summary in active]
            onboardings = uow.session.exec(select(Onboarding).where(col(Onboarding.id).in_(ids)))
            sessions = {
                onboarding.id: OnboardingProgress.from_json(onboarding.step_data).link_session
                for onboarding in onboardings
            }
            relinks = [
                RelinkToConfirm(
                    link_id=summary.link.id or 0,
                    client_name=summary.client.name,
                    channel_id=summary.client.conversation_id,
                    previous_login=summary.link.account_label,
                    previous_environment=summary.link.environment["domain"],
                    login=session.username or "",
                    environment=session.domain or "",
                )
                for summary in active
                if (session := sessions.get(summary.link.onboarding_id)) is not None
                and link_flow.may_run(LinkStep.CONFIRM_ENVIRONMENT, session)
                and not link_flow.is_abandoned(session, now)
            ]
        links.sort(key=lambda row: row.created_at, reverse=True)
        return Dashboard(
            open=self.open_onboardings(),
            links=links,
            relinks=relinks,
            migration=self._migration() if self._migration else None,
            todo=todo,
        )

    def _handoffs_to_do(self, uow: SqlUnitOfWork) -> list[HandoffToDo]:
        handoffs = uow.session.exec(
            select(Onboarding, Client)
            .join(Client, col(Client.id) == col(Onboarding.client_id))
            .where(Onboarding.state == State.HANDOFF.value)
            .where(col(Onboarding.data_erased_at).is_(None))
            .order_by(col(Onboarding.last_progress_at).desc(), col(Onboarding.id).desc())
        ).all()
        todo = []
        for onboarding, client in handoffs:
            progress = OnboardingProgress.from_json(onboarding.step_data)
            if progress.handoff_done_by is not None:
                continue
            assert onboarding.id is not None
            todo.append(
                HandoffToDo(
                    onboarding_id=onboarding.id,
                    client_name=client.name,
                    channel_id=client.conversation_id,
                    owner=onboarding.started_by,
                    reason=progress.handoff_reason or flow.HANDOFF_NOT_LISTED,
                    package=progress.package,
                    contact_user_id=client.contact_user_id,
                    handed_off_at=onboarding.last_progress_at,
                )
            )
        return todo

    def handoff_done(self, onboarding_id: int, *, manager: str) -> str | None:
        """Tick a handoff off the to-do list (the client was helped), audited and reported, in
        one transaction; the client's name, or None when it was ticked off before or is no
        handoff any more (the customer chose again)."""

        def once() -> str | None:
            with self._unit_of_work() as uow:
                onboarding = uow.onboardings.require(onboarding_id)
                context = load(uow, onboarding, Actor(manager), self._clock.now())
                if onboarding.state != State.HANDOFF or context.progress.handoff_done_by:
                    return None
                context.progress.handoff_done_by = manager
                onboarding.updated_at = context.now
                context.save()
                publish(self._service.event_bus, context, HandoffDone)
                uow.commit()
                return context.client.name

        return retry_on_stale(once, what=f"handoff {onboarding_id}")

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
        assert onboarding_id is not None
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
        """Cancel the channel's open onboarding and start a new one in its place (one
        transaction: there is never a channel left without either)."""
        return self._service.replace_invite(
            onboarding_id,
            client_name=request.client_name,
            channel_id=request.channel_id,
            team_id=team_id,
            started_by=manager,
            language=request.language,
            contact_user_id=request.contact_user_id,
        )

    # --- acting on one onboarding -----------------------------------------------------------

    def invite_status(self, onboarding_id: int) -> InviteStatus:
        return self._service.invite_status(onboarding_id)

    def record_resent(self, onboarding_id: int, *, manager: str) -> None:
        """Audit and report that the invite was posted again (after the transport did so)."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            context = load(uow, onboarding, Actor(manager), self._clock.now())
            publish(self._service.event_bus, context, InviteResent)
            uow.commit()

    def cancel(self, onboarding_id: int, *, manager: str) -> InviteStatus:
        """End an open onboarding; IllegalTransition when it has already ended."""
        return self._service.cancel(onboarding_id, Actor(manager))

    def lift_block(self, onboarding_id: int, *, manager: str) -> None:
        self._service.lift_block(onboarding_id, Actor(manager))

    def unlink(self, link_id: int, *, manager: str) -> Unlinked | None:
        """Revoke a REST link's grant at Nmbrs (outside the transaction), then erase the link's
        token and any relink in progress and mark its onboarding unlinked; the audit trail
        stays. When Nmbrs cannot be reached the grant is still erased here (`revocation_failed`,
        which the report says). None when it was unlinked before (nothing changes)."""
        revoked = (
            revoke_grant(self._unit_of_work, self._providers, link_id)
            if self._providers is not None
            else None
        )
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            onboarding = uow.onboardings.require(link.onboarding_id)
            context = load(uow, onboarding, Actor(manager), self._clock.now())
            if not unlink(context, link, self._reports, revocation_failed=revoked is False):
                return None
            context.save()
            uow.commit()
            return Unlinked(context.client.name, revocation_failed=revoked is False)

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
            migration = self._migration() if self._migration else None
            message = self._reports.digest(open_rows, ended, day=today, migration=migration)
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
        """Expire every open onboarding past its `expires_at`, each in its own transaction with
        the redraw of its invite message (no Start button any more); returns their states."""
        with self._unit_of_work() as uow:
            overdue = [onboarding.id for onboarding in uow.onboardings.due_for_expiry(due_at)]
        expired = []
        for onboarding_id in overdue:
            assert onboarding_id is not None
            try:
                expired.append(self._service.expire(onboarding_id))
            except (IllegalTransition, StaleUpdate, NotFound):
                logger.info("onboarding %s moved on before it could expire", onboarding_id)
        return expired
