"""The onboarding's side of the consent in the browser (`bot.usecases.consent`): the consent
screen's start link, the purpose PURPOSE_ONBOARDING (begin at /nmbrs/start, finish at the
callback), the consent's failures, "approve again", and the grant refreshed before a check
again.

The seam: this module knows the consent; `OnboardingService` knows the step machinery (load,
gate, one transaction per step, what to show) and lends it through `StepHost`. The service's
public methods (`consent_again`, `check_again`) stay on the service and call in here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from bot.core import events, flow
from bot.core.events import EventBus
from bot.core.flow import Event, Step
from bot.core.model import Actor, StepRef
from bot.core.payroll import (
    Connection,
    ConsentProvider,
    NoAccess,
    NoSubscription,
    PayrollProvider,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    Throttled,
    WrongCredentials,
)
from bot.core.screens import (
    CONSENT_EXCHANGE_FAILED,
    CONSENT_GRANT_REFUSED,
    CONSENT_NO_ACCESS,
    CONSENT_QUOTA,
    CONSENT_REFUSED,
    CONSENT_THROTTLED,
    CONSENT_UNAVAILABLE,
    ConsentScreen,
    Outcome,
    Screen,
)
from bot.usecases.consent import (
    PAGE_STALE,
    PURPOSE_ONBOARDING,
    ConsentFlow,
    ConsentTicket,
    ConsumedConsent,
    Finished,
    PageAnswer,
    page_for,
)
from bot.usecases.credentials import apply_consent, hand_off
from bot.usecases.transitions import (
    OnboardingContext,
    discard_secrets_and_lists,
    erase_consents,
    publish,
    transition,
)
from storage.repository import SqlUnitOfWork

logger = logging.getLogger(__name__)

Apply = Callable[[OnboardingContext], None]
Gate = Callable[[OnboardingContext], Outcome | None]


class StepHost(Protocol):
    """What the consent borrows from the onboarding's step machinery (OnboardingService)."""

    @property
    def event_bus(self) -> EventBus: ...

    def provider_of(self, context: OnboardingContext) -> PayrollProvider:
        """The provider the onboarding was made with."""
        ...

    def gate(self, ref: StepRef, step: Step) -> Gate:
        """None when `step` may be applied at `ref` now; else the Outcome to answer with."""
        ...

    def peek(
        self,
        onboarding_id: int,
        actor: Actor,
        read: Callable[[SqlUnitOfWork, OnboardingContext], Any],
        *,
        gate: Gate,
    ) -> Any:
        """What a provider call needs, read in a short transaction, or the Outcome."""
        ...

    def run_step(self, ref: StepRef, actor: Actor, step: Step, apply: Apply) -> Outcome:
        """Apply one step in one transaction."""
        ...

    def screen_of(self, context: OnboardingContext) -> Screen:
        """The screen the stored onboarding shows (without its start link)."""
        ...


class OnboardingConsent:
    """The onboarding's ConsentPurpose, and what a consent onboarding's steps need of it."""

    def __init__(self, host: StepHost, consents: ConsentFlow):
        self._host = host
        self.consents = consents
        consents.register(PURPOSE_ONBOARDING, self)

    # --- the screen ----------------------------------------------------------------------

    def with_start(self, context: OnboardingContext, screen: ConsentScreen) -> ConsentScreen:
        """The consent screen with its start link, drawn for this viewer and window."""
        if context.actor.team_id is None:
            return screen
        assert context.onboarding.id is not None
        view_key = ConsentFlow.new_view_key()
        ticket = ConsentTicket(
            purpose=PURPOSE_ONBOARDING,
            onboarding_id=context.onboarding.id,
            step=context.progress.step,
            user_id=context.actor.user_id,
            team_id=context.actor.team_id,
            view_key=view_key,
        )
        return replace(screen, start_url=self.consents.start_url(ticket), view_key=view_key)

    # --- ConsentPurpose ------------------------------------------------------------------

    def begin(self, ticket: ConsentTicket) -> ConsentProvider | PageAnswer:
        """The onboarding's consent provider, when the ticket's onboarding is still at the
        ticket's step, asks for a consent and the person may still act on it."""
        host = self._host
        ref = StepRef(ticket.onboarding_id, ticket.step)

        def provider_of(uow: SqlUnitOfWork, context: OnboardingContext) -> Any:
            if not isinstance(host.screen_of(context), ConsentScreen):
                return PageAnswer(PAGE_STALE, context.client.language)
            provider = host.provider_of(context)
            if not isinstance(provider, ConsentProvider):
                return PageAnswer(PAGE_STALE, context.client.language)
            return provider

        read = host.peek(
            ticket.onboarding_id, ticket.actor, provider_of, gate=host.gate(ref, Step.CREDENTIALS)
        )
        if isinstance(read, Outcome):
            return page_for(read, started=False)
        result: ConsentProvider | PageAnswer = read
        return result

    def finish(self, consumed: ConsumedConsent, *, code: str | None, error: str | None) -> Finished:
        """Apply the provider's answer to a consent: the code exchanged and the connect check
        (outside any transaction), then one step."""
        host = self._host
        actor = Actor(consumed.person_id, consumed.workspace_id)
        ref = StepRef(consumed.onboarding_id, consumed.step)
        apply: Apply
        if code is None:
            logger.info("consent of onboarding %s: refused (%s)", ref.onboarding_id, error)
            apply = consent_failed(host.event_bus, CONSENT_REFUSED, "access_denied")
        else:
            provider = host.peek(
                ref.onboarding_id,
                actor,
                lambda uow, context: host.provider_of(context),
                gate=host.gate(ref, Step.CREDENTIALS),
            )
            if isinstance(provider, Outcome):
                return Finished(page_for(provider), provider, consumed.view_key)
            if not isinstance(provider, ConsentProvider):
                return Finished(PageAnswer(PAGE_STALE, None))
            apply = self._connect(provider, code, consumed.code_verifier)

        def applied(context: OnboardingContext) -> None:
            # The request is used: nothing of it is kept (nor of others this step outdates).
            erase_consents(context)
            apply(context)

        outcome = host.run_step(ref, actor, Step.CREDENTIALS, applied)
        return Finished(page_for(outcome), outcome, consumed.view_key)

    def _connect(self, provider: ConsentProvider, code: str, code_verifier: str) -> Apply:
        bus = self._host.event_bus
        try:
            consent = provider.connect(
                code, redirect_uri=self.consents.redirect_uri, code_verifier=code_verifier
            )
        except WrongCredentials as failure:
            logger.info("consent code exchange refused: %s", failure.code)
            return consent_failed(bus, CONSENT_EXCHANGE_FAILED, failure.code)
        except NoSubscription:
            return lambda context: hand_off(
                bus, context, flow.HANDOFF_NO_SUBSCRIPTION, package=flow.NMBRS
            )
        except QuotaExceeded as failure:
            return consent_failed(bus, CONSENT_QUOTA, failure.code)
        except Throttled as failure:
            return consent_failed(bus, CONSENT_THROTTLED, failure.code)
        except NoAccess as failure:
            # The login sees no data at all: its template or its klant login filter.
            logger.info("consent connect check: the login sees nothing (%s)", failure.code)
            return consent_failed(bus, CONSENT_NO_ACCESS, failure.code)
        except (ProviderUnavailable, ProviderError) as failure:
            logger.info("consent connect check ended with %s", failure.code)
            return consent_failed(bus, CONSENT_UNAVAILABLE, failure.code)
        return lambda context: apply_consent(bus, context, consent)


# --- the steps of a consent onboarding ---------------------------------------------------


def refreshed(
    provider: ConsentProvider, connection: Connection
) -> Connection | WrongCredentials | ProviderError:
    """The kept grant refreshed before a check again (its access token lives an hour): the new
    connection (the old refresh token is dead once this returns: store the new one in the step
    that follows), WrongCredentials when Nmbrs no longer honours the grant, or the provider's
    failure (then the old grant still holds)."""
    try:
        return provider.refresh(connection)
    except WrongCredentials as refused:
        logger.info("refreshing the consent's grant refused: %s", refused.code)
        return refused
    except ProviderError as failure:
        logger.info("refreshing the consent's grant ended with %s", failure.code)
        return failure


def back_to_consent(context: OnboardingContext, *, error: str | None = None) -> None:
    """Back to the consent screen: the grant dropped (kept nowhere), what it showed forgotten,
    and `error` (CONSENT_*) said there."""
    progress = context.progress
    if flow.event_after_check(context.onboarding.state, flow.CheckAnswer.WRONG_CREDENTIALS):
        transition(context, Event.RESET_CREDENTIALS)
    discard_secrets_and_lists(context)
    progress.username = progress.domain = progress.approved_by = None
    progress.debtors = None
    progress.consent_error = error


def grant_refused(bus: EventBus, code: str) -> Apply:
    """Nmbrs no longer honours the kept grant: approve again (not a wrong attempt)."""

    def apply(context: OnboardingContext) -> None:
        back_to_consent(context, error=CONSENT_GRANT_REFUSED)
        publish(bus, context, events.ProviderFailed, error=code)

    return apply


def consent_failed(bus: EventBus, reason: str, code: str) -> Apply:
    def apply(context: OnboardingContext) -> None:
        context.progress.consent_error = reason
        publish(bus, context, events.ProviderFailed, error=code)

    return apply
