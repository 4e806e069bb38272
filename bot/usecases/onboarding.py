"""The onboarding use cases: each applies what `bot.core.flow` decides.

Each use case runs in one unit of work: load the onboarding, check that the actor may act on
it, apply one transition (see `bot.core.flow`), write the audit trail, publish status events and
commit. It returns an `Outcome`: the screen to show next, derived from the stored onboarding
alone (`bot.core.screens.screen_for`), so resuming after a closed modal or a restart shows the
same thing.

Calls are blocking (database, payroll provider): async callers run them in a worker thread.
Provider calls happen between two short transactions, never inside one.

Idempotency: every view carries the onboarding's step counter (`OnboardingProgress.step`) from
when it was drawn. A use case applies only when that counter is still current; a double click or
a retried request finds it moved on and gets the current screen back without a second effect.
Two truly concurrent submissions both pass that check, but only one commit wins (optimistic
versioning raises `StaleUpdate` for the other, which is then re-run and finds the step done).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.clock import Clock, SystemClock
from bot.core import events, flow
from bot.core.access import OTHER_ORGANISATION
from bot.core.events import EventBus
from bot.core.flow import Event, State, Step
from bot.core.invite import step_indicator
from bot.core.model import SYSTEM, Actor, Company, InvalidInput, InviteStatus, StepRef
from bot.core.payroll import (
    AccountCheck,
    Connection,
    ConsentProvider,
    PayrollProvider,
    ProviderCompany,
    ProviderError,
    WrongCredentials,
)
from bot.core.progress import (
    LastStep,
    company_dicts,
)
from bot.core.screens import (
    NOTICE_ALREADY_DONE,
    CompanyChoiceScreen,
    ConsentScreen,
    CredentialsScreen,
    ErrorScreen,
    HandoffScreen,
    Instructions,
    Outcome,
    RefusedScreen,
    Screen,
    ScreenSettings,
    SupportContact,
    instructions_screen,
    offers_instructions,
    screen_for,
)
from bot.ports import Membership
from bot.settings import Settings
from bot.usecases.company_search import MIN_QUERY_LENGTH, CompanyListCache, PackedCompanies
from bot.usecases.consent import ConsentFlow
from bot.usecases.credentials import (
    apply_check,
    check_account,
    company_row,
    hand_off,
    provider_company,
    record_failure,
    typed_connection,
)
from bot.usecases.onboarding_consent import (
    OnboardingConsent,
    back_to_consent,
    grant_refused,
    refreshed,
)
from bot.usecases.providers import Providers
from bot.usecases.steps import StepRunner, retry_on_stale
from bot.usecases.transitions import (
    OnboardingContext,
    client_of,
    create_onboarding,
    customer_refusal,
    discard_secrets_and_lists,
    end,
    invite_status,
    load,
    publish,
    redraw_invites,
    transition,
    with_linked_elsewhere,
)
from storage.crypto import TokenCipher
from storage.models import PayrollLink
from storage.repository import SqlUnitOfWork

logger = logging.getLogger(__name__)


def screen_settings(
    settings: Settings, provider: PayrollProvider, *, language: str | None = None
) -> ScreenSettings:
    """Our links (the terms in the client's `language`) and phone, and the access the provider
    requires as it describes it."""
    return ScreenSettings(
        terms_url=settings.terms_url_for(language),
        support_phone=settings.support_phone,
        required_access=provider.describe_access(provider.required_access),
        group_access=provider.describe_access,
        consent=isinstance(provider, ConsentProvider),
        data=provider.data_read,
        timezone=settings.timezone,
        nmbrs_login_url=settings.nmbrs_login_url,
    )


def support_contact(settings: Settings, account_manager: str = "") -> SupportContact:
    """Who a customer can reach: the onboarding's account manager, our phone and e-mail."""
    return SupportContact(
        account_manager=account_manager, phone=settings.support_phone, email=settings.support_email
    )


Apply = Callable[[OnboardingContext], None]


class OnboardingService:
    def __init__(
        self,
        *,
        unit_of_work: Callable[[], SqlUnitOfWork],
        providers: Providers,
        membership: Membership,
        settings: Settings,
        event_bus: EventBus | None = None,
        clock: Clock | None = None,
        cipher: TokenCipher | None = None,
    ):
        self._unit_of_work = unit_of_work
        self._providers = providers
        self._membership = membership
        self._settings = settings
        self.event_bus = event_bus or EventBus()
        self._clock = clock or SystemClock()
        self._company_lists = CompanyListCache(max_bytes=int(settings.company_cache_mib * 2**20))
        self._steps = StepRunner(
            unit_of_work=unit_of_work,
            load=self._load,
            answer=self._outcome,
            illegal=self._illegal,
            subject="onboarding",
        )
        self._screen_settings: dict[tuple[str, str], ScreenSettings] = {}
        # The consent in the browser (bot.usecases.consent), for providers that take one; it
        # needs the cipher its start links are encrypted with.
        self.consents: ConsentFlow | None = None
        self._consent: OnboardingConsent | None = None
        if cipher is not None:
            self.consents = ConsentFlow(
                unit_of_work=unit_of_work,
                cipher=cipher,
                clock=self._clock,
                public_url=settings.public_url,
                redirect_uri=settings.nmbrs_redirect_uri,
            )
            self._consent = OnboardingConsent(_StepHost(self), self.consents)

    def _provider_of(self, context: OnboardingContext) -> PayrollProvider:
        """The provider the onboarding was made with (SOAP for rows from before REST)."""
        return self._providers.get(context.progress.provider)

    def _screens(self, provider: PayrollProvider, language: str) -> ScreenSettings:
        """What screens take from the settings and the provider (read when first drawn), for a
        client of `language`."""
        key = (provider.name, language)
        if key not in self._screen_settings:
            self._screen_settings[key] = screen_settings(
                self._settings, provider, language=language
            )
        return self._screen_settings[key]

    # --- invitation -----------------------------------------------------------------------

    def create_invite(
        self,
        *,
        client_name: str,
        channel_id: str,
        team_id: str,
        started_by: str,
        language: str | None = None,
        contact_user_id: str | None = None,
    ) -> InviteStatus:
        """A new onboarding for a client, in state invited, with the provider new onboardings
        use today (SoapEnded, and nothing created, when that is SOAP after its end). Post its
        invite message with `bot.transports.slack.invites`, which records the message through
        `record_invite`."""
        provider = self._providers.for_new_onboarding(self._clock.now().date())
        with self._unit_of_work() as uow:
            status = create_onboarding(
                uow,
                self.event_bus,
                self._settings,
                self._clock.now(),
                client_name=client_name,
                channel_id=channel_id,
                team_id=team_id,
                started_by=started_by,
                language=language,
                contact_user_id=contact_user_id,
                provider=provider.name,
            )
            uow.commit()
            return status

    def replace_invite(
        self,
        onboarding_id: int,
        *,
        client_name: str,
        channel_id: str,
        team_id: str,
        started_by: str,
        language: str | None = None,
        contact_user_id: str | None = None,
    ) -> InviteStatus:
        """Cancel an open onboarding and create a new one in its place, in one transaction
        (IllegalTransition when it has ended, SoapEnded as create_invite; nothing is created
        then)."""
        provider = self._providers.for_new_onboarding(self._clock.now().date())
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            end(
                self.event_bus,
                load(uow, onboarding, Actor(started_by), self._clock.now()),
                Event.CANCEL,
                replaced=True,
            )
            status = create_onboarding(
                uow,
                self.event_bus,
                self._settings,
                self._clock.now(),
                client_name=client_name,
                channel_id=channel_id,
                team_id=team_id,
                started_by=started_by,
                language=language,
                contact_user_id=contact_user_id,
                provider=provider.name,
            )
            uow.commit()
            return status

    def record_invite(self, onboarding_id: int, *, channel_id: str, message_ts: str) -> None:
        """Keep a posted invite message as the onboarding's newest; the copies posted before
        it are redrawn as replaced by it (through the outbox, in the same transaction)."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            now = self._clock.now()
            if uow.onboardings.record_invite_message(
                onboarding, conversation_id=channel_id, message_ref=message_ts, at=now
            ):
                redraw_invites(load(uow, onboarding, SYSTEM, now), older_only=True)
            uow.commit()

    def invite_status(self, onboarding_id: int) -> InviteStatus:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            return invite_status(
                onboarding, client_of(uow, onboarding), support_phone=self._settings.support_phone
            )

    # --- the customer's steps ---------------------------------------------------------------

    def open(self, onboarding_id: int, actor: Actor) -> Outcome:
        """Start or resume: the screen of the step reached, with what was entered before."""

        def open_once() -> Outcome:
            with self._unit_of_work() as uow:
                loaded = self._load(uow, onboarding_id, actor)
                if isinstance(loaded, Outcome):
                    return loaded
                if loaded.progress.started_at is None:
                    loaded.progress.started_at = loaded.now
                    publish(
                        self.event_bus,
                        loaded,
                        events.OnboardingStarted,
                        actor_team_id=actor.team_id,
                    )
                    loaded.save()
                    uow.commit()
                return self._outcome(loaded)

        return retry_on_stale(open_once, what=f"onboarding {onboarding_id}")

    def accept_terms(self, ref: StepRef, actor: Actor, *, accepted: bool, package: str) -> Outcome:
        """Terms and package in one step: Nmbrs goes on, anything else goes to a person."""
        if not accepted:
            raise InvalidInput("the general terms must be accepted")
        if package not in flow.PACKAGES:
            raise InvalidInput(f"unknown payroll package {package!r}")

        def apply(context: OnboardingContext) -> None:
            onboarding = context.onboarding
            assert onboarding.id is not None
            terms_version = self._settings.terms_version
            context.uow.terms.record(
                onboarding.id,
                terms_version=terms_version,
                person_id=context.actor.user_id,
                workspace_id=context.actor.team_id,
                accepted_at=context.now,
            )
            context.progress.package = package
            context.progress.draft = None
            handoff = flow.handoff_for_package(package)
            if handoff is None:
                transition(context, Event.ACCEPT_TERMS)
                publish(
                    self.event_bus,
                    context,
                    events.TermsAccepted,
                    terms_version=terms_version,
                    package=package,
                )
                return
            hand_off(self.event_bus, context, handoff, package=package)

        return self._step(ref, actor, Step.TERMS, apply)

    def acknowledge_preparation(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer read how to prepare Nmbrs; next time they resume at the credentials."""

        def apply(context: OnboardingContext) -> None:
            context.progress.prepared = True

        return self._step(ref, actor, Step.PREPARATION, apply)

    def instructions(self, onboarding_id: int, actor: Actor, part: Instructions) -> Outcome:
        """A part of the preparation, opened (again) from any screen after it; changes
        nothing."""

        def read(uow: SqlUnitOfWork, context: OnboardingContext) -> Outcome:
            client = context.client
            screen = instructions_screen(
                part,
                self._screens(self._provider_of(context), client.language),
                client_name=client.name,
                place=(client.workspace_id, client.conversation_id),
            )
            return Outcome(
                screen=screen,
                language=client.language,
                client_name=client.name,
                ref=self._ref(context),
            )

        return self._steps.peek(onboarding_id, actor, read)

    def submit_credentials(
        self, ref: StepRef, actor: Actor, *, username: str, token: str
    ) -> Outcome:
        """Check a username and token at the provider and move on according to the answer."""
        connection = typed_connection(username, token)
        provider = self._precheck(ref, actor, Step.CREDENTIALS)
        if isinstance(provider, Outcome):
            return provider
        result = check_account(provider, connection)
        outcome = self._step(
            ref,
            actor,
            Step.CREDENTIALS,
            lambda context: apply_check(self.event_bus, context, connection, result),
        )
        return _with_typed_username(outcome, connection.account)

    def check_again(self, ref: StepRef, actor: Actor) -> Outcome:
        """Run the check anew with the kept token: after fixing permissions or the klant login
        filter, or after Nmbrs failed (then the token was kept unverified for this retry). A
        consent's grant is refreshed first and stored rotated in the step; one Nmbrs no longer
        honours leads back to the consent screen (not a wrong attempt, never a block)."""

        def kept_credentials(
            uow: SqlUnitOfWork, context: OnboardingContext
        ) -> tuple[Connection, PayrollProvider] | Outcome:
            token = uow.onboardings.pending_token(context.onboarding)
            username = context.progress.username
            if token is None or not username:
                return self._outcome(context)
            connection = Connection(
                account=username, secret=token, environment=context.progress.domain or ""
            )
            return connection, self._provider_of(context)

        read = self._steps.peek(
            ref.onboarding_id,
            actor,
            kept_credentials,
            gate=lambda context: self._replay_or_refuse(context, ref, Step.CHECK_AGAIN),
        )
        if isinstance(read, Outcome):
            return read
        connection, provider = read
        result: AccountCheck | ProviderError
        if isinstance(provider, ConsentProvider):
            # The kept grant's access token lives an hour: refresh it first (the rotated grant
            # is what the step stores), and a grant Nmbrs refuses asks to approve again.
            fresh = refreshed(provider, connection)
            if isinstance(fresh, Connection):
                connection = fresh
                result = check_account(provider, connection)
            else:
                result = fresh
            if isinstance(result, WrongCredentials):
                return self._step(
                    ref, actor, Step.CHECK_AGAIN, grant_refused(self.event_bus, result.code)
                )
        else:
            result = check_account(provider, connection)
        checked = connection
        return self._step(
            ref,
            actor,
            Step.CHECK_AGAIN,
            lambda context: apply_check(self.event_bus, context, checked, result),
        )

    def choose_companies(self, ref: StepRef, actor: Actor, company_ids: Iterable[str]) -> Outcome:
        """Keep the chosen companies (with GUIDs); complete at once unless the login sees more
        than was chosen, which first asks for the over-access confirmation."""
        chosen_ids = list(dict.fromkeys(str(company_id) for company_id in company_ids))
        if not chosen_ids:
            raise InvalidInput("choose at least one company")

        def verified(
            uow: SqlUnitOfWork, context: OnboardingContext
        ) -> tuple[Connection, list[ProviderCompany], PayrollProvider] | Outcome:
            progress = context.progress
            if not progress.ready_to_choose:
                return self._outcome(context)
            seen = {row.id for row in progress.companies or ()}
            if not set(chosen_ids) <= seen:
                raise InvalidInput("a chosen company is not visible to this login")
            token = uow.onboardings.pending_token(context.onboarding)
            if token is None:
                raise InvalidInput("the verified token is gone; check the credentials again")
            connection = Connection(
                account=progress.username or "", secret=token, environment=progress.domain or ""
            )
            by_id = {row.id: row for row in progress.companies or ()}
            chosen = [provider_company(by_id[company_id]) for company_id in chosen_ids]
            return connection, chosen, self._provider_of(context)

        read = self._steps.peek(
            ref.onboarding_id,
            actor,
            verified,
            gate=lambda context: self._replay_or_refuse(context, ref, Step.COMPANIES),
        )
        if isinstance(read, Outcome):
            return read
        connection, chosen_companies, provider = read
        try:
            to_link = provider.companies_to_link(connection, chosen_companies)
        except ProviderError as error:
            logger.warning("looking up company GUIDs failed: %s", error.code)
            failure = error
            return self._step(
                ref,
                actor,
                Step.COMPANIES,
                lambda context: record_failure(
                    self.event_bus, context, failure, chosen_ids=chosen_ids
                ),
            )

        def apply(context: OnboardingContext) -> None:
            progress = context.progress
            rows = {row.id: row for row in progress.companies or ()}
            progress.chosen = tuple(company_row(company) for company in to_link)
            progress.draft = None
            transition(context, Event.CHOOSE_COMPANIES)
            found = flow.over_access(list(rows), chosen_ids)
            if flow.event_after_choice(found) is Event.COMPLETE:
                self._complete(context)
                return
            assert found is not None
            publish(
                self.event_bus,
                context,
                events.OverAccessWarned,
                companies_seen=found.seen,
                companies_chosen=found.chosen,
            )

        return self._step(ref, actor, Step.COMPANIES, apply)

    def confirm_over_access(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer understands the login sees more than was chosen, and links anyway."""

        def apply(context: OnboardingContext) -> None:
            progress = context.progress
            publish(
                self.event_bus,
                context,
                events.OverAccessConfirmed,
                companies_seen=len(progress.companies or ()),
                companies_chosen=len(progress.chosen or ()),
            )
            self._complete(context)

        return self._step(ref, actor, Step.CONFIRM_OVER_ACCESS, apply)

    def consent_again(self, ref: StepRef, actor: Actor) -> Outcome:
        """Back to the consent screen after a consent that left data out: the grant is
        dropped (kept nowhere) and the customer approves anew in Nmbrs."""

        def apply(context: OnboardingContext) -> None:
            transition(context, Event.RESET_CREDENTIALS)
            back_to_consent(context)

        return self._step(ref, actor, Step.CHECK_AGAIN, apply)

    def narrow_filter(self, ref: StepRef, actor: Actor) -> Outcome:
        """Back from the over-access screen, to narrow the klant login filter and check again."""

        def apply(context: OnboardingContext) -> None:
            progress = context.progress
            publish(
                self.event_bus,
                context,
                events.OverAccessNarrowing,
                companies_seen=len(progress.companies or ()),
            )
            chosen_ids = [row.id for row in progress.chosen or ()]
            progress.chosen = None
            progress.narrowing = True
            progress.save_draft({"chosen_ids": chosen_ids})
            transition(context, Event.RECONSIDER)

        return self._step(ref, actor, Step.NARROW_FILTER, apply)

    def choose_package_again(self, onboarding_id: int, actor: Actor) -> Outcome:
        """Back from a handoff for the package chosen to the terms and the package choice, in
        one transaction: from the handoff screen or from the invite, so it goes by the state,
        not by a view's step counter. A double click, or a handoff that cannot go back
        (`bot.core.flow.may_choose_again`), gets the current screen."""

        def gate(context: OnboardingContext) -> Outcome | None:
            return None if self._may_choose_again(context) else self._outcome(context)

        def apply(context: OnboardingContext) -> None:
            progress = context.progress
            previous = progress.package
            progress.package = None
            progress.handoff_reason = None
            progress.handoff_done_by = None
            transition(context, Event.CHOOSE_AGAIN)
            # The invite runs its full term again: the handoff may be days old.
            context.onboarding.expires_at = context.now + timedelta(
                days=self._settings.expire_after_days
            )
            publish(
                self.event_bus, context, events.PackageChoiceReopened, previous_package=previous
            )

        def record(context: OnboardingContext) -> None:
            progress = context.progress
            progress.last = LastStep(Step.CHOOSE_AGAIN.value, progress.step)
            progress.step += 1
            context.onboarding.updated_at = context.now
            context.save()

        _, outcome = self._steps.run(onboarding_id, actor, apply, record=record, gate=gate)
        return outcome

    def _may_choose_again(self, context: OnboardingContext) -> bool:
        onboarding = context.onboarding
        running = context.uow.onboardings.open_for_channel(context.client.conversation_id)
        return flow.may_choose_again(
            onboarding.state,
            context.progress.handoff_reason,
            data_erased=onboarding.data_erased_at is not None,
            channel_taken=running is not None and running.id != onboarding.id,
        )

    def save_draft(self, onboarding_id: int, actor: Actor, draft: dict[str, Any]) -> None:
        """What a closed modal held (never the token), so Start continues with it."""

        def save_once() -> None:
            with self._unit_of_work() as uow:
                loaded = self._load(uow, onboarding_id, actor, report_refusal=False)
                if isinstance(loaded, Outcome):
                    return
                if State(loaded.onboarding.state) not in flow.OPEN_STATES:
                    return
                if loaded.progress.save_draft(draft):
                    loaded.save()
                    uow.commit()

        retry_on_stale(save_once, what=f"onboarding {onboarding_id}")

    def suggest_companies(self, onboarding_id: int, actor: Actor, query: str) -> list[Company]:
        """Type-ahead over the companies the login sees: by name or number, at most
        MAX_SUGGESTIONS, from the list kept with the onboarding."""
        query = query.strip().casefold()
        if len(query) < MIN_QUERY_LENGTH:
            return []
        with self._unit_of_work() as uow:
            head = uow.onboardings.version_and_client(onboarding_id)
            client = uow.clients.get(head[1]) if head is not None else None
            if head is None or client is None:
                return []
            reason = customer_refusal(self._membership, client, actor)
            if reason is not None:
                logger.info("refused %s on onboarding %s: %s", actor.user_id, onboarding_id, reason)
                return []
            companies = self._company_lists.get(onboarding_id, head[0])
            if companies is None:
                onboarding = uow.onboardings.require(onboarding_id)
                # The stored triples, packed: no Company per row until the search picks the best.
                companies = PackedCompanies(onboarding.step_data.get("companies", []))
                self._company_lists.put(onboarding_id, onboarding.version, companies)
        return companies.search(query)

    # --- the account manager's side ---------------------------------------------------------

    def cancel(self, onboarding_id: int, actor: Actor) -> InviteStatus:
        """End an open onboarding and erase the kept token; IllegalTransition when ended."""
        return self._end(onboarding_id, actor, Event.CANCEL)

    def expire(self, onboarding_id: int) -> InviteStatus:
        """Expire an open onboarding (the scheduler calls this) and erase the kept token; its
        invite messages are redrawn through the outbox, in the same transaction."""
        return self._end(onboarding_id, Actor("system"), Event.EXPIRE)

    def lift_block(self, onboarding_id: int, actor: Actor) -> None:
        """Allow credential attempts again before the block runs out."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            if onboarding.blocked_until is None:
                return
            onboarding.blocked_until = None
            context = load(uow, onboarding, actor, self._clock.now())
            context.progress.failed_attempts = ()
            publish(self.event_bus, context, events.CredentialBlockLifted)
            context.save()
            uow.commit()

    def _end(self, onboarding_id: int, actor: Actor, event: Event) -> InviteStatus:
        with self._unit_of_work() as uow:
            context = load(uow, uow.onboardings.require(onboarding_id), actor, self._clock.now())
            end(self.event_bus, context, event)
            status = invite_status(
                context.onboarding, context.client, support_phone=self._settings.support_phone
            )
            uow.commit()
            return status

    # --- the machinery of a step ------------------------------------------------------------

    def _load(
        self,
        uow: SqlUnitOfWork,
        onboarding_id: int,
        actor: Actor,
        *,
        report_refusal: bool = True,
    ) -> OnboardingContext | Outcome:
        """The onboarding with its client, or the Outcome that says why the actor may not act."""
        language = self._settings.default_language
        onboarding = uow.onboardings.get(onboarding_id)
        if onboarding is None:
            return Outcome(
                screen=ErrorScreen("not_found"),
                language=language,
                contact=support_contact(self._settings),
            )
        context = load(uow, onboarding, actor, self._clock.now())
        reason = customer_refusal(self._membership, context.client, actor)
        if reason is None:
            return context
        if report_refusal:
            publish(
                self.event_bus,
                context,
                events.AccessRefused,
                user_team_id=actor.team_id,
                reason=reason,
            )
            uow.commit()
        logger.info("refused %s on onboarding %s: %s", actor.user_id, onboarding_id, reason)
        return Outcome(
            screen=RefusedScreen(other_organisation=reason == OTHER_ORGANISATION),
            language=context.client.language,
            contact=self._contact(context),
        )

    def _replay_or_refuse(
        self, context: OnboardingContext, ref: StepRef, step: Step
    ) -> Outcome | None:
        """None when the step may be applied now; else the Outcome to answer with."""
        progress = context.progress
        if ref.step != progress.step:
            last = progress.last
            exact_replay = last is not None and last.name == step and last.from_step == ref.step
            return self._outcome(context, notice=None if exact_replay else NOTICE_ALREADY_DONE)
        state = State(context.onboarding.state)
        if flow.may_run(step, state):
            return None
        if state not in flow.OPEN_STATES:
            return self._outcome(context)
        return self._illegal(context)

    def _precheck(self, ref: StepRef, actor: Actor, step: Step) -> Outcome | PayrollProvider:
        """Before a provider call: refuse, replay or stop at a block without calling it; else
        the onboarding's provider."""

        def gate(context: OnboardingContext) -> Outcome | None:
            early = self._replay_or_refuse(context, ref, step)
            if early is None and flow.is_blocked(context.onboarding.blocked_until, context.now):
                return self._outcome(context)
            return early

        return self._steps.peek(
            ref.onboarding_id, actor, lambda uow, context: self._provider_of(context), gate=gate
        )

    def _step(self, ref: StepRef, actor: Actor, step: Step, apply: Apply) -> Outcome:
        """Apply one step in one transaction (see `bot.usecases.steps`)."""

        def record(context: OnboardingContext) -> None:
            progress = context.progress
            progress.last = LastStep(step.value, ref.step)
            progress.step = ref.step + 1
            context.onboarding.updated_at = context.now
            context.save()

        _, outcome = self._steps.run(
            ref.onboarding_id,
            actor,
            apply,
            record=record,
            gate=lambda context: self._replay_or_refuse(context, ref, step),
        )
        return outcome

    def _illegal(self, context: OnboardingContext) -> Outcome:
        return Outcome(
            screen=ErrorScreen("illegal_step"),
            language=context.client.language,
            ref=self._ref(context),
            contact=self._contact(context),
        )

    def _complete(self, context: OnboardingContext) -> None:
        uow, onboarding, progress = context.uow, context.onboarding, context.progress
        token = uow.onboardings.pending_token(onboarding)
        if token is None:
            raise InvalidInput("the verified token is gone; check the credentials again")
        chosen = progress.chosen or ()
        seen = len(progress.companies or ())
        username, domain = progress.username or "", progress.domain or ""
        transition(context, Event.COMPLETE)
        link = uow.links.create(
            onboarding=onboarding,
            username=username,
            token=token,
            domain=domain,
            companies=list(chosen),
            provider=self._provider_of(context).name,
        )
        progress.link_id = link.id
        progress.companies_seen = seen
        progress.completed_by = context.actor.user_id
        discard_secrets_and_lists(context)
        assert link.id is not None
        publish(
            self.event_bus,
            context,
            events.OnboardingCompleted,
            link_id=link.id,
            username=username,
            domain=domain,
            companies=company_dicts(chosen),
            companies_seen=seen,
        )
        self._warn_if_linked_elsewhere(context, link)

    def _warn_if_linked_elsewhere(self, context: OnboardingContext, link: PayrollLink) -> None:
        """Companies another client's link holds too: the customer is told on the completed
        screen (how many, never whose), the account manager in the status channel (which,
        and for whom)."""
        doubles = context.uow.links.linked_elsewhere(link)
        if not doubles:
            return
        assert link.id is not None
        ours = {(row.number, row.name) for row, _ in doubles}
        context.progress.already_linked = len(ours)
        publish(
            self.event_bus,
            context,
            events.CompaniesAlreadyLinked,
            link_id=link.id,
            companies=[
                {"name": row.name, "number": row.number, "other_client": client.name}
                for row, client in doubles
            ],
            manager=context.onboarding.started_by,
        )

    # --- what to show -----------------------------------------------------------------------

    def _ref(self, context: OnboardingContext) -> StepRef:
        assert context.onboarding.id is not None
        return StepRef(onboarding_id=context.onboarding.id, step=context.progress.step)

    def _outcome(self, context: OnboardingContext, *, notice: str | None = None) -> Outcome:
        onboarding, client = context.onboarding, context.client
        screen = screen_for(
            onboarding.state,
            context.progress,
            blocked_until=onboarding.blocked_until,
            settings=self._screens(self._provider_of(context), client.language),
            now=context.now,
        )
        if isinstance(screen, ConsentScreen):
            screen = self._with_start(context, screen)
        if isinstance(screen, CompanyChoiceScreen):
            assert onboarding.id is not None
            screen = with_linked_elsewhere(
                context.uow,
                screen,
                provider=self._provider_of(context).name,
                onboarding_id=onboarding.id,
            )
        if isinstance(screen, HandoffScreen) and screen.can_choose_again:
            screen = dataclasses.replace(screen, can_choose_again=self._may_choose_again(context))
        return Outcome(
            screen=screen,
            language=client.language,
            client_name=client.name,
            ref=self._ref(context),
            notice=notice,
            invite=invite_status(onboarding, client, support_phone=self._settings.support_phone)
            if context.state_changed
            else None,
            step=step_indicator(onboarding.state),
            contact=self._contact(context),
            instructions=offers_instructions(onboarding.state, context.progress),
        )

    def _contact(self, context: OnboardingContext) -> SupportContact:
        return support_contact(self._settings, context.onboarding.started_by)

    # --- the consent in the browser (bot.usecases.onboarding_consent) ---------------------

    def _with_start(self, context: OnboardingContext, screen: ConsentScreen) -> ConsentScreen:
        if self._consent is None:
            return screen
        return self._consent.with_start(context, screen)

    def _outcome_screen(self, context: OnboardingContext) -> Screen:
        return screen_for(
            context.onboarding.state,
            context.progress,
            blocked_until=context.onboarding.blocked_until,
            settings=self._screens(self._provider_of(context), context.client.language),
            now=context.now,
        )


def _with_typed_username(outcome: Outcome, username: str) -> Outcome:
    """A form asked again after wrong credentials keeps the username just typed, so only the
    token is pasted anew. It goes back to the person's own form and nowhere else: a rejected
    username is neither stored nor reported (it may be anything typed)."""
    screen = outcome.screen
    if not isinstance(screen, CredentialsScreen) or not screen.wrong_credentials:
        return outcome
    return replace(outcome, screen=replace(screen, username=screen.username or username))


class _StepHost:
    """The service's step machinery as `bot.usecases.onboarding_consent.StepHost`."""

    def __init__(self, service: OnboardingService):
        self._service = service

    @property
    def event_bus(self) -> EventBus:
        return self._service.event_bus

    def provider_of(self, context: OnboardingContext) -> PayrollProvider:
        return self._service._provider_of(context)

    def gate(self, ref: StepRef, step: Step) -> Callable[[OnboardingContext], Outcome | None]:
        return lambda context: self._service._replay_or_refuse(context, ref, step)

    def peek(
        self,
        onboarding_id: int,
        actor: Actor,
        read: Callable[[SqlUnitOfWork, OnboardingContext], Any],
        *,
        gate: Callable[[OnboardingContext], Outcome | None],
    ) -> Any:
        return self._service._steps.peek(onboarding_id, actor, read, gate=gate)

    def run_step(self, ref: StepRef, actor: Actor, step: Step, apply: Apply) -> Outcome:
        return self._service._step(ref, actor, step, apply)

    def screen_of(self, context: OnboardingContext) -> Screen:
        return self._service._outcome_screen(context)
