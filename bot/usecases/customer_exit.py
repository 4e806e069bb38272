"""The customer ends it from the client's channel: stop an open onboarding, or remove the link.
Either is one transaction: the change, its audit and report, and the account manager's notice
are committed together or not at all."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import flow
from bot.core.access import OTHER_ORGANISATION
from bot.core.events import LinkEvent, LinkRemovedByCustomer, OnboardingStoppedByCustomer
from bot.core.flow import Event
from bot.core.model import Actor, InviteStatus
from bot.usecases.grants import revoke_grant
from bot.usecases.link_notices import publish_link_event
from bot.usecases.link_steps import LinkSteps
from bot.usecases.steps import retry_on_stale
from bot.usecases.transitions import (
    OnboardingContext,
    customer_refusal,
    end,
    invite_status,
    load,
    unlink,
)
from storage.repository import SqlUnitOfWork

# What became of a customer's stop or removal.
STOPPED = "stopped"
REMOVED = "removed"
ALREADY_ENDED = "already_ended"
REFUSED = "refused"
REFUSED_OTHER_ORGANISATION = "refused_other_organisation"


@dataclass(frozen=True)
class StopResult:
    kind: str  # STOPPED, REMOVED, ALREADY_ENDED, REFUSED or REFUSED_OTHER_ORGANISATION
    language: str
    invite: InviteStatus | None = None


class CustomerExit(LinkSteps):
    def stop_onboarding(self, onboarding_id: int, actor: Actor) -> StopResult:
        """The customer stops an open onboarding; the account manager is told."""

        def stop() -> StopResult:
            with self._unit_of_work() as uow:
                context = self._customer(uow, onboarding_id, actor, stopping=True)
                if isinstance(context, StopResult):
                    return context
                if not flow.allows(context.onboarding.state, Event.CANCEL):
                    return self._result(ALREADY_ENDED, context)
                end(self._event_bus, context, Event.CANCEL)
                self._tell_manager(context, OnboardingStoppedByCustomer, link_id=None)
                uow.commit()
                return self._result(STOPPED, context)

        return retry_on_stale(stop, what=f"onboarding {onboarding_id}")

    def remove_link(self, onboarding_id: int, actor: Actor) -> StopResult:
        """The customer removes the link: a REST grant revoked at Nmbrs first (outside the
        transaction; when Nmbrs cannot be reached the grant is still erased here and the report
        says so), then its token and any relink in progress erased, audited, reported; the
        account manager is told."""
        revoked = None
        with self._unit_of_work() as uow:
            context = self._customer(uow, onboarding_id, actor)
            link = (
                None if isinstance(context, StopResult) else uow.links.for_onboarding(onboarding_id)
            )
            link_id = link.id if link is not None and link.revoked_at is None else None
        if link_id is not None:  # only for a member of the client's channel
            revoked = revoke_grant(self._unit_of_work, self._providers, link_id)

        def remove() -> StopResult:
            with self._unit_of_work() as uow:
                context = self._customer(uow, onboarding_id, actor)
                if isinstance(context, StopResult):
                    return context
                link = uow.links.for_onboarding(onboarding_id)
                if link is None or not unlink(
                    context, link, self._reports, revocation_failed=revoked is False
                ):
                    return self._result(ALREADY_ENDED, context)
                context.save()
                self._tell_manager(context, LinkRemovedByCustomer, link_id=link.id)
                uow.commit()
                return self._result(REMOVED, context)

        return retry_on_stale(remove, what=f"onboarding {onboarding_id}")

    def _customer(
        self, uow: SqlUnitOfWork, onboarding_id: int, actor: Actor, *, stopping: bool = False
    ) -> OnboardingContext | StopResult:
        """The onboarding of a member of the client's channel and organisation (the account
        manager who started it may also stop it); refused for anyone else."""
        context = load(uow, uow.onboardings.require(onboarding_id), actor, self._clock.now())
        manager = context.onboarding.started_by if stopping else None
        reason = customer_refusal(self._membership, context.client, actor, account_manager=manager)
        if reason == OTHER_ORGANISATION:
            return StopResult(REFUSED_OTHER_ORGANISATION, context.client.language)
        if reason is not None:
            return StopResult(REFUSED, context.client.language)
        return context

    def _result(self, kind: str, context: OnboardingContext) -> StopResult:
        status = invite_status(
            context.onboarding, context.client, support_phone=self._settings.support_phone
        )
        return StopResult(kind, context.client.language, status)

    def _tell_manager(
        self, context: OnboardingContext, event_type: type[LinkEvent], *, link_id: int | None
    ) -> None:
        """The account manager's notice, in the same transaction as what it tells."""
        onboarding, client, actor = context.onboarding, context.client, context.actor
        if onboarding.started_by == actor.user_id:
            return  # the account manager did it themselves
        assert onboarding.id is not None
        event = event_type(
            onboarding_id=onboarding.id,
            link_id=link_id,
            client_name=client.name,
            channel_id=client.conversation_id,
            language=client.language,
            actor=actor.user_id,
            at=context.now,
            manager=onboarding.started_by,
        )
        publish_link_event(context.uow, self._notices, event)
