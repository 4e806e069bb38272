"""What the use cases do to an onboarding inside their one transaction: create it, move it
through the flow (audited), publish its events, end it, unlink its link, and read its invite
status.

Every function takes the caller's unit of work and never commits: a use case that needs two of
them (the customer stopping an onboarding, which also tells the account manager) still commits
once, so a crash cannot keep one half and lose the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core import access, events, flow
from bot.core.events import EventBus, OnboardingEvent
from bot.core.flow import Event, State
from bot.core.invite import (
    SUPERSEDED_REPLACED,
    SUPERSEDED_RESENT,
    WAITING_COMPANIES,
    WAITING_CONSENT,
    WAITING_PERMISSIONS,
    invite_screen,
)
from bot.core.model import Actor, InviteStatus
from bot.core.payroll import NMBRS_REST
from bot.core.progress import CheckOutcome, OnboardingProgress
from bot.core.screens import CompanyChoiceScreen
from bot.outbox import enqueue_once
from bot.ports import Membership
from bot.reports import invite_update
from bot.settings import Settings
from storage.models import Client, Onboarding, PayrollLink
from storage.repository import SqlUnitOfWork

# Reports an event without auditing it (its audit entry is written elsewhere): StatusReports.
Reports = Callable[[Any, OnboardingEvent], None]


@dataclass
class OnboardingContext:
    """An onboarding loaded in a unit of work, with its client, the actor and the moment."""

    uow: SqlUnitOfWork
    onboarding: Onboarding
    client: Client
    actor: Actor
    now: datetime
    progress: OnboardingProgress
    state_changed: bool = False

    def save(self) -> None:
        """Write the typed progress back into the row (before committing)."""
        self.onboarding.step_data = self.progress.to_json()


def client_of(uow: SqlUnitOfWork, onboarding: Onboarding) -> Client:
    client = uow.clients.get(onboarding.client_id)
    assert client is not None, "an onboarding always has a client"
    return client


def load(
    uow: SqlUnitOfWork, onboarding: Onboarding, actor: Actor, now: datetime
) -> OnboardingContext:
    return OnboardingContext(
        uow,
        onboarding,
        client_of(uow, onboarding),
        actor,
        now,
        OnboardingProgress.from_json(onboarding.step_data),
    )


def customer_refusal(
    membership: Membership, client: Client, actor: Actor, *, account_manager: str | None = None
) -> str | None:
    """Why `actor` may not act on `client`'s onboarding and link, or None when they may (the
    rule: `bot.core.access.customer_refusal`)."""
    place = access.ClientPlace(client.workspace_id, client.conversation_id)
    return access.customer_refusal(
        actor, place, membership.is_member, account_manager=account_manager
    )


def transition(context: OnboardingContext, event: Event) -> None:
    """Move the onboarding along the flow's table (IllegalTransition when it may not)."""
    onboarding = context.onboarding
    before = onboarding.state
    onboarding.state = flow.next_state(before, event).value
    onboarding.last_progress_at = context.now
    context.state_changed = True
    context.uow.audit.record(
        "state_changed",
        actor=context.actor.user_id,
        onboarding_id=onboarding.id,
        detail={"from": before, "to": onboarding.state, "event": event.value},
        at=context.now,
    )
    # Flush now: a concurrent winner shows up as StaleUpdate before anything else is written.
    context.uow.flush()


def event_of(
    context: OnboardingContext, event_type: type[OnboardingEvent], **fields: Any
) -> OnboardingEvent:
    assert context.onboarding.id is not None and context.client.id is not None
    return event_type(
        onboarding_id=context.onboarding.id,
        client_id=context.client.id,
        client_name=context.client.name,
        channel_id=context.client.conversation_id,
        actor=context.actor.user_id,
        at=context.now,
        **fields,
    )


def publish(
    bus: EventBus, context: OnboardingContext, event_type: type[OnboardingEvent], **fields: Any
) -> None:
    bus.publish(context.uow, event_of(context, event_type, **fields))


def discard_secrets_and_lists(context: OnboardingContext) -> None:
    """Erase the kept token and every consent request under way (nothing of a consent
    lingers once the onboarding moves on or ends), and forget the lists."""
    context.uow.onboardings.erase_pending_token(context.onboarding)
    erase_consents(context)
    context.progress.discard_lists()


def erase_consents(context: OnboardingContext) -> None:
    assert context.onboarding.id is not None
    context.uow.consents.erase_for_onboarding(context.onboarding.id)


def end(bus: EventBus, context: OnboardingContext, event: Event, *, replaced: bool = False) -> None:
    """Cancel or expire an open onboarding and erase the kept token (IllegalTransition when it
    has ended already); every copy of its invite is redrawn without buttons, as replaced by a
    new onboarding when `replaced`."""
    transition(context, event)
    discard_secrets_and_lists(context)
    if event is Event.CANCEL:
        publish(bus, context, events.OnboardingCancelled)
    else:
        publish(bus, context, events.OnboardingExpired)
    context.save()
    redraw_invites(context, superseded=SUPERSEDED_REPLACED if replaced else None)


def redraw_invites(
    context: OnboardingContext, *, superseded: str | None = None, older_only: bool = False
) -> int:
    """Queue the redraw of every invite message posted for the onboarding (only those before
    the newest when `older_only`), in the caller's transaction: the newest as the onboarding
    stands, the older ones as replaced by it (`superseded` marks them all). Each redraw is
    queued once (the outbox's dedupe key: the message and what it says), so doing this again
    queues nothing; returns how many were queued."""
    onboarding = context.onboarding
    assert onboarding.id is not None
    # The copies redrawn here say how it ended or that it was replaced: never the phone.
    status = invite_status(onboarding, context.client, support_phone="")
    queued = 0
    for message in context.uow.onboardings.invite_messages(onboarding.id):
        newest = message.message_ref == onboarding.invite_message_ref
        if older_only and newest:
            continue
        copy = dataclasses.replace(
            status,
            channel_id=message.conversation_id,
            message_ts=message.message_ref,
            superseded=superseded or (None if newest else SUPERSEDED_RESENT),
        )
        screen = invite_screen(copy)
        said = screen.superseded or screen.state.value
        key = f"invite:{message.id}:{said}"
        if enqueue_once(context.uow.session, invite_update(copy, dedupe_key=key), now=context.now):
            queued += 1
    return queued


def unlink(
    context: OnboardingContext,
    link: PayrollLink,
    reports: Reports,
    *,
    revocation_failed: bool = False,
) -> bool:
    """Erase the link's token and every secret and session its onboarding holds (a relink's
    kept token, its username, domain and the companies the login sees) and mark the onboarding
    unlinked; the audit trail stays (the link's own entry, link_unlinked, is written by the
    repository). The caller saves the progress and commits: all of it is one transaction.
    False when it was unlinked before (nothing changes). `revocation_failed`: the caller could
    not revoke the link's grant at the provider beforehand (`bot.usecases.grants.revoke_grant`),
    which the report says."""
    if not context.uow.links.unlink(link, actor=context.actor.user_id, at=context.now):
        return False
    context.uow.onboardings.erase_pending_token(context.onboarding)
    erase_consents(context)
    context.progress.link_session = None
    if flow.allows(context.onboarding.state, Event.UNLINK):
        transition(context, Event.UNLINK)
        context.onboarding.updated_at = context.now
    assert link.id is not None
    kind = events.LinkUnlinkedNotRevoked if revocation_failed else events.LinkUnlinked
    reports(context.uow, event_of(context, kind, link_id=link.id))
    context.save()
    redraw_invites(context)
    return True


def create_onboarding(
    uow: SqlUnitOfWork,
    bus: EventBus,
    settings: Settings,
    now: datetime,
    *,
    client_name: str,
    channel_id: str,
    team_id: str,
    started_by: str,
    language: str | None,
    contact_user_id: str | None,
    provider: str | None = None,
) -> InviteStatus:
    client = uow.clients.add(
        Client(
            name=client_name,
            workspace_id=team_id,
            conversation_id=channel_id,
            contact_user_id=contact_user_id,
            language=language or settings.default_language,
            created_at=now,
        )
    )
    progress = OnboardingProgress(provider=provider)
    assert client.id is not None
    onboarding = uow.onboardings.add(
        Onboarding(
            client_id=client.id,
            state=State.INVITED.value,
            step_data=progress.to_json(),
            started_by=started_by,
            conversation_id=channel_id,
            created_at=now,
            updated_at=now,
            last_progress_at=now,
            expires_at=now + timedelta(days=settings.expire_after_days),
        )
    )
    context = OnboardingContext(uow, onboarding, client, Actor(started_by), now, progress)
    publish(bus, context, events.InviteCreated, language=client.language)
    return invite_status(onboarding, client, support_phone=settings.support_phone)


def invite_status(onboarding: Onboarding, client: Client, *, support_phone: str) -> InviteStatus:
    """What the invite message in the client's channel shows, from the stored onboarding."""
    progress = OnboardingProgress.from_json(onboarding.step_data)
    state = State(onboarding.state)
    check = progress.check
    waiting = None
    if state == State.CREDENTIALS_VERIFIED and check is not None:
        if check.missing_permissions:
            rest = progress.provider == NMBRS_REST
            waiting = WAITING_CONSENT if rest else WAITING_PERMISSIONS
        elif check.outcome is CheckOutcome.OK and not progress.companies:
            waiting = WAITING_COMPANIES
    assert onboarding.id is not None
    return InviteStatus(
        onboarding_id=onboarding.id,
        client_name=client.name,
        language=client.language,
        channel_id=onboarding.conversation_id or client.conversation_id,
        message_ts=onboarding.invite_message_ref,
        state=state,
        step_reached=flow.step_reached(state),
        companies_linked=len(progress.chosen or ()),
        completed_by=progress.completed_by,
        handoff_reason=progress.handoff_reason,
        support_phone=support_phone,
        started_by=onboarding.started_by,
        contact_user_id=client.contact_user_id,
        waiting=waiting,
        waiting_count=len(check.missing_permissions) if waiting and check else 0,
        can_choose_again=state == State.HANDOFF
        and progress.handoff_reason in flow.PACKAGE_HANDOFFS
        and onboarding.data_erased_at is None,
    )


def with_linked_elsewhere(
    uow: SqlUnitOfWork, screen: CompanyChoiceScreen, *, provider: str, onboarding_id: int
) -> CompanyChoiceScreen:
    """The choice with the companies of `provider` that another client's link holds already,
    so the customer is warned before linking them (never told whose they are)."""
    held = uow.links.held_elsewhere(
        provider,
        [company.id for company in screen.companies],
        except_onboarding_id=onboarding_id,
    )
    if not held:
        return screen
    refs = {row.provider_company_ref for row, _ in held}
    already = tuple(company for company in screen.companies if company.id in refs)
    return dataclasses.replace(screen, already_linked=already)
