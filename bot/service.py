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

import heapq
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, SystemClock
from bot.core import events, flow
from bot.core.access import channel_refusal
from bot.core.events import EventBus, OnboardingEvent
from bot.core.flow import CheckAnswer, Event, State, Step
from bot.core.model import Actor, Company, InvalidInput, InviteStatus, StepRef
from bot.core.progress import (
    CheckOutcome,
    CheckRecord,
    LastStep,
    OnboardingProgress,
    company_dicts,
)
from bot.core.screens import (
    NOTICE_ALREADY_DONE,
    ErrorScreen,
    Outcome,
    RefusedScreen,
    ScreenSettings,
    screen_for,
)
from bot.ports import Membership
from bot.settings import Settings
from bot.usecases.steps import StepRunner, retry_on_stale
from nmbrs.provider import (
    REQUIRED_PERMISSIONS,
    AccountCheck,
    Credentials,
    Environment,
    NoAccess,
    NoSubscription,
    PayrollProvider,
    ProviderError,
    WrongCredentials,
    group_by_service,
)
from storage.models import Client, Onboarding
from storage.repository import SqlUnitOfWork

logger = logging.getLogger(__name__)

# Type-ahead answers: at least this many characters, at most this many companies.
MIN_QUERY_LENGTH = 2
MAX_SUGGESTIONS = 100


def refusal_reason(membership: Membership, client: Client, actor: Actor) -> str | None:
    """Why `actor` may not act on `client`'s onboarding, or None when they may."""
    return channel_refusal(actor, client.slack_channel_id, membership.is_member)


def screen_settings(settings: Settings) -> ScreenSettings:
    return ScreenSettings(
        terms_url=settings.terms_url,
        support_phone=settings.support_phone,
        required_access=group_by_service(REQUIRED_PERMISSIONS),
        group_access=group_by_service,
    )


def check_answer(result: AccountCheck | ProviderError) -> CheckAnswer:
    """The provider's answer to a credential check, as the flow knows it."""
    if isinstance(result, AccountCheck):
        return CheckAnswer.VERIFIED
    if isinstance(result, WrongCredentials):
        return CheckAnswer.WRONG_CREDENTIALS
    if isinstance(result, NoSubscription):
        return CheckAnswer.NO_SUBSCRIPTION
    if isinstance(result, NoAccess):
        return CheckAnswer.NO_ACCESS
    return CheckAnswer.UNAVAILABLE


@dataclass
class _Context:
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


Apply = Callable[[_Context], None]


class CompanyListCache:
    """The company lists of the onboardings being typed in, by onboarding id and row version:
    each keystroke of the type-ahead then costs a version lookup instead of decoding the whole
    kept list (5,000 companies are ~170 KB of JSON). Any change to the row bumps its version,
    so an entry is never stale. Thread-safe; keeps the last used lists up to MAX_COMPANIES
    companies in all (about 1 MB of memory per 5,000)."""

    MAX_COMPANIES = 250_000

    def __init__(self) -> None:
        self._entries: OrderedDict[int, tuple[int, tuple[Any, ...]]] = OrderedDict()
        self._companies = 0
        self._lock = threading.Lock()

    def get(self, onboarding_id: int, version: int) -> tuple[Any, ...] | None:
        with self._lock:
            entry = self._entries.get(onboarding_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(onboarding_id)
            return entry[1]

    def put(self, onboarding_id: int, version: int, companies: tuple[Any, ...]) -> None:
        with self._lock:
            replaced = self._entries.pop(onboarding_id, None)
            if replaced is not None:
                self._companies -= len(replaced[1])
            self._entries[onboarding_id] = (version, companies)
            self._companies += len(companies)
            while self._companies > self.MAX_COMPANIES and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._companies -= len(dropped)


class OnboardingService:
    def __init__(
        self,
        *,
        unit_of_work: Callable[[], SqlUnitOfWork],
        provider: PayrollProvider,
        membership: Membership,
        settings: Settings,
        event_bus: EventBus | None = None,
        clock: Clock | None = None,
    ):
        self._unit_of_work = unit_of_work
        self._provider = provider
        self._membership = membership
        self._settings = settings
        self._screens = screen_settings(settings)
        self.event_bus = event_bus or EventBus()
        self._clock = clock or SystemClock()
        self._company_lists = CompanyListCache()
        self._steps = StepRunner(
            unit_of_work=unit_of_work,
            load=self._load,
            answer=self._outcome,
            illegal=self._illegal,
            subject="onboarding",
        )

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
        """A new onboarding for a client, in state invited. Post its invite message with
        `bot.slack.invite.post_invite`, which records the message through `record_invite`."""
        now = self._clock.now()
        with self._unit_of_work() as uow:
            client = uow.clients.add(
                Client(
                    name=client_name,
                    slack_team_id=team_id,
                    slack_channel_id=channel_id,
                    contact_user_id=contact_user_id,
                    language=language or self._settings.default_language,
                    created_at=now,
                )
            )
            progress = OnboardingProgress()
            assert client.id is not None
            onboarding = uow.onboardings.add(
                Onboarding(
                    client_id=client.id,
                    state=State.INVITED.value,
                    step_data=progress.to_json(),
                    started_by=started_by,
                    invite_channel_id=channel_id,
                    created_at=now,
                    updated_at=now,
                    last_progress_at=now,
                    expires_at=now + timedelta(days=self._settings.expire_after_days),
                )
            )
            context = _Context(uow, onboarding, client, Actor(started_by), now, progress)
            self._publish(context, events.InviteCreated, language=client.language)
            uow.commit()
            return self._invite_status(onboarding, client)

    def record_invite(self, onboarding_id: int, *, channel_id: str, message_ts: str) -> None:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            onboarding.invite_channel_id = channel_id
            onboarding.invite_message_ts = message_ts
            uow.commit()

    def invite_status(self, onboarding_id: int) -> InviteStatus:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            return self._invite_status(onboarding, self._client(uow, onboarding))

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
                    self._publish(loaded, events.OnboardingStarted, actor_team_id=actor.team_id)
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

        def apply(context: _Context) -> None:
            onboarding = context.onboarding
            assert onboarding.id is not None
            terms_version = self._settings.terms_version
            context.uow.terms.record(
                onboarding.id,
                terms_version=terms_version,
                slack_user_id=context.actor.user_id,
                slack_team_id=context.actor.team_id,
                accepted_at=context.now,
            )
            context.progress.package = package
            context.progress.draft = None
            handoff = flow.handoff_for_package(package)
            if handoff is None:
                self._transition(context, Event.ACCEPT_TERMS)
                self._publish(
                    context, events.TermsAccepted, terms_version=terms_version, package=package
                )
                return
            self._hand_off(context, handoff, package=package)

        return self._step(ref, actor, Step.TERMS, apply)

    def acknowledge_preparation(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer read how to prepare Nmbrs; next time they resume at the credentials."""

        def apply(context: _Context) -> None:
            context.progress.prepared = True

        return self._step(ref, actor, Step.PREPARATION, apply)

    def submit_credentials(
        self, ref: StepRef, actor: Actor, *, username: str, token: str
    ) -> Outcome:
        """Check a username and token at the provider and move on according to the answer."""
        username, token = username.strip(), clean_token(token)
        if not username or not token:
            raise InvalidInput("username and token are both required")
        early = self._precheck(ref, actor, Step.CREDENTIALS)
        if early is not None:
            return early
        credentials = Credentials(username=username, token=token)
        result = self._check_account(credentials)
        return self._step(
            ref,
            actor,
            Step.CREDENTIALS,
            lambda context: self._apply_check(context, credentials, result),
        )

    def check_again(self, ref: StepRef, actor: Actor) -> Outcome:
        """Run the check anew with the kept token: after fixing permissions or the klant login
        filter, or after Nmbrs failed (then the token was kept unverified for this retry)."""

        def kept_credentials(uow: SqlUnitOfWork, context: _Context) -> Credentials | Outcome:
            token = uow.onboardings.pending_token(context.onboarding)
            username = context.progress.username
            if token is None or not username:
                return self._outcome(context)
            return Credentials(username=username, token=token)

        read = self._steps.peek(
            ref.onboarding_id,
            actor,
            kept_credentials,
            gate=lambda context: self._replay_or_refuse(context, ref, Step.CHECK_AGAIN),
        )
        if isinstance(read, Outcome):
            return read
        credentials = read
        result = self._check_account(credentials)
        return self._step(
            ref,
            actor,
            Step.CHECK_AGAIN,
            lambda context: self._apply_check(context, credentials, result),
        )

    def choose_companies(self, ref: StepRef, actor: Actor, company_ids: Iterable[int]) -> Outcome:
        """Keep the chosen companies (with GUIDs); complete at once unless the login sees more
        than was chosen, which first asks for the over-access confirmation."""
        chosen_ids = list(dict.fromkeys(int(company_id) for company_id in company_ids))
        if not chosen_ids:
            raise InvalidInput("choose at least one company")

        def verified(
            uow: SqlUnitOfWork, context: _Context
        ) -> tuple[Credentials, Environment] | Outcome:
            progress = context.progress
            if not progress.ready_to_choose:
                return self._outcome(context)
            seen = {row.id for row in progress.companies or ()}
            if not set(chosen_ids) <= seen:
                raise InvalidInput("a chosen company is not visible to this login")
            token = uow.onboardings.pending_token(context.onboarding)
            if token is None:
                raise InvalidInput("the verified token is gone; check the credentials again")
            credentials = Credentials(username=progress.username or "", token=token)
            return credentials, Environment(domain=progress.domain or "")

        read = self._steps.peek(
            ref.onboarding_id,
            actor,
            verified,
            gate=lambda context: self._replay_or_refuse(context, ref, Step.COMPANIES),
        )
        if isinstance(read, Outcome):
            return read
        credentials, environment = read
        try:
            guids = self._provider.company_guids(credentials, environment, chosen_ids)
        except ProviderError as error:
            logger.warning("looking up company GUIDs failed: %s", error.code)
            failure = error
            return self._step(
                ref,
                actor,
                Step.COMPANIES,
                lambda context: self._record_failure(context, failure, chosen_ids=chosen_ids),
            )

        def apply(context: _Context) -> None:
            progress = context.progress
            rows = {row.id: row for row in progress.companies or ()}
            progress.chosen = tuple(
                Company(
                    id=rows[company_id].id,
                    number=rows[company_id].number,
                    name=rows[company_id].name,
                    guid=guids.get(company_id),
                )
                for company_id in chosen_ids
            )
            progress.draft = None
            self._transition(context, Event.CHOOSE_COMPANIES)
            found = flow.over_access(list(rows), chosen_ids)
            if flow.event_after_choice(found) is Event.COMPLETE:
                self._complete(context)
                return
            assert found is not None
            self._publish(
                context,
                events.OverAccessWarned,
                companies_seen=found.seen,
                companies_chosen=found.chosen,
            )

        return self._step(ref, actor, Step.COMPANIES, apply)

    def confirm_over_access(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer understands the login sees more than was chosen, and links anyway."""

        def apply(context: _Context) -> None:
            progress = context.progress
            self._publish(
                context,
                events.OverAccessConfirmed,
                companies_seen=len(progress.companies or ()),
                companies_chosen=len(progress.chosen or ()),
            )
            self._complete(context)

        return self._step(ref, actor, Step.CONFIRM_OVER_ACCESS, apply)

    def narrow_filter(self, ref: StepRef, actor: Actor) -> Outcome:
        """Back from the over-access screen, to narrow the klant login filter and check again."""

        def apply(context: _Context) -> None:
            progress = context.progress
            self._publish(
                context, events.OverAccessNarrowing, companies_seen=len(progress.companies or ())
            )
            chosen_ids = [row.id for row in progress.chosen or ()]
            progress.chosen = None
            progress.narrowing = True
            progress.save_draft({"chosen_ids": chosen_ids})
            self._transition(context, Event.RECONSIDER)

        return self._step(ref, actor, Step.NARROW_FILTER, apply)

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
            reason = refusal_reason(self._membership, client, actor)
            if reason is not None:
                logger.info("refused %s on onboarding %s: %s", actor.user_id, onboarding_id, reason)
                return []
            companies = self._company_lists.get(onboarding_id, head[0])
            if companies is None:
                onboarding = uow.onboardings.require(onboarding_id)
                # The raw stored triples: no Company per row until the search picks the best.
                companies = tuple(onboarding.step_data.get("companies", []))
                self._company_lists.put(onboarding_id, onboarding.version, companies)
        return _search(companies, query)

    # --- the account manager's side ---------------------------------------------------------

    def cancel(self, onboarding_id: int, actor: Actor) -> InviteStatus:
        """End an open onboarding and erase the kept token; IllegalTransition when ended."""
        return self._end(onboarding_id, actor, Event.CANCEL)

    def expire(self, onboarding_id: int) -> InviteStatus:
        """Expire an open onboarding (the scheduler calls this) and erase the kept token."""
        return self._end(onboarding_id, Actor("system"), Event.EXPIRE)

    def lift_block(self, onboarding_id: int, actor: Actor) -> None:
        """Allow credential attempts again before the block runs out."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            if onboarding.blocked_until is None:
                return
            onboarding.blocked_until = None
            context = self._context(uow, onboarding, actor)
            context.progress.failed_attempts = ()
            self._publish(context, events.CredentialBlockLifted)
            context.save()
            uow.commit()

    def _end(self, onboarding_id: int, actor: Actor, trigger: Event) -> InviteStatus:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            context = self._context(uow, onboarding, actor)
            self._transition(context, trigger)
            self._discard_secrets_and_lists(context)
            if trigger is Event.CANCEL:
                self._publish(context, events.OnboardingCancelled)
            else:
                self._publish(context, events.OnboardingExpired)
            context.save()
            uow.commit()
            return self._invite_status(onboarding, context.client)

    # --- the machinery of a step ------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock.now()

    def _client(self, uow: SqlUnitOfWork, onboarding: Onboarding) -> Client:
        client = uow.clients.get(onboarding.client_id)
        assert client is not None, "an onboarding always has a client"
        return client

    def _context(self, uow: SqlUnitOfWork, onboarding: Onboarding, actor: Actor) -> _Context:
        return _Context(
            uow,
            onboarding,
            self._client(uow, onboarding),
            actor,
            self._now(),
            OnboardingProgress.from_json(onboarding.step_data),
        )

    def _load(
        self,
        uow: SqlUnitOfWork,
        onboarding_id: int,
        actor: Actor,
        *,
        report_refusal: bool = True,
    ) -> _Context | Outcome:
        """The onboarding with its client, or the Outcome that says why the actor may not act."""
        language = self._settings.default_language
        onboarding = uow.onboardings.get(onboarding_id)
        if onboarding is None:
            return Outcome(screen=ErrorScreen("not_found"), language=language)
        context = self._context(uow, onboarding, actor)
        reason = refusal_reason(self._membership, context.client, actor)
        if reason is None:
            return context
        if report_refusal:
            self._publish(context, events.AccessRefused, user_team_id=actor.team_id, reason=reason)
            uow.commit()
        logger.info("refused %s on onboarding %s: %s", actor.user_id, onboarding_id, reason)
        return Outcome(screen=RefusedScreen(), language=context.client.language)

    def _replay_or_refuse(self, context: _Context, ref: StepRef, step: Step) -> Outcome | None:
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
        return Outcome(
            screen=ErrorScreen("illegal_step"),
            language=context.client.language,
            ref=self._ref(context),
        )

    def _precheck(self, ref: StepRef, actor: Actor, step: Step) -> Outcome | None:
        """Before a provider call: refuse, replay or stop at a block without calling it."""

        def gate(context: _Context) -> Outcome | None:
            early = self._replay_or_refuse(context, ref, step)
            if early is None and flow.is_blocked(context.onboarding.blocked_until, context.now):
                return self._outcome(context)
            return early

        return self._steps.peek(ref.onboarding_id, actor, lambda uow, context: None, gate=gate)

    def _step(self, ref: StepRef, actor: Actor, step: Step, apply: Apply) -> Outcome:
        """Apply one step in one transaction (see `bot.usecases.steps`)."""

        def record(context: _Context) -> None:
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

    def _illegal(self, context: _Context) -> Outcome:
        return Outcome(
            screen=ErrorScreen("illegal_step"),
            language=context.client.language,
            ref=self._ref(context),
        )

    def _transition(self, context: _Context, trigger: Event) -> None:
        onboarding = context.onboarding
        before = onboarding.state
        onboarding.state = flow.next_state(before, trigger).value
        onboarding.last_progress_at = context.now
        context.state_changed = True
        context.uow.audit.record(
            "state_changed",
            actor=context.actor.user_id,
            onboarding_id=onboarding.id,
            detail={"from": before, "to": onboarding.state, "event": trigger.value},
            at=context.now,
        )
        # Flush now: a concurrent winner shows up as StaleUpdate before anything else is written.
        context.uow.flush()

    def _publish(self, context: _Context, event_type: type[OnboardingEvent], **fields: Any) -> None:
        assert context.onboarding.id is not None and context.client.id is not None
        event = event_type(
            onboarding_id=context.onboarding.id,
            client_id=context.client.id,
            client_name=context.client.name,
            channel_id=context.client.slack_channel_id,
            actor=context.actor.user_id,
            at=context.now,
            **fields,
        )
        self.event_bus.publish(context.uow, event)

    def _hand_off(self, context: _Context, reason: str, *, package: str | None = None) -> None:
        context.progress.handoff_reason = reason
        self._transition(context, Event.HAND_OFF)
        self._discard_secrets_and_lists(context)
        self._publish(context, events.HandedOff, reason=reason, package=package)

    @staticmethod
    def _discard_secrets_and_lists(context: _Context) -> None:
        context.uow.onboardings.erase_pending_token(context.onboarding)
        context.progress.discard_lists()

    def _check_account(self, credentials: Credentials) -> AccountCheck | ProviderError:
        """The provider's whole check, or the error it ended with."""
        try:
            return self._provider.check_account(credentials, with_guids_for=set())
        except ProviderError as error:
            logger.info("credential check ended with %s", error.code)
            return error

    def _apply_check(
        self, context: _Context, credentials: Credentials, result: AccountCheck | ProviderError
    ) -> None:
        progress = context.progress
        progress.username = credentials.username
        progress.credentials_error = None
        progress.narrowing = False
        answer = check_answer(result)
        trigger = flow.event_after_check(context.onboarding.state, answer)
        if answer is CheckAnswer.WRONG_CREDENTIALS:
            if trigger is not None:
                self._transition(context, trigger)
            self._reject_credentials(context, credentials)
        elif answer is CheckAnswer.NO_SUBSCRIPTION:
            self._hand_off(context, flow.HANDOFF_NO_SUBSCRIPTION, package=flow.NMBRS)
        elif answer is CheckAnswer.UNAVAILABLE:
            assert isinstance(result, ProviderError)
            # Keep the token (encrypted) so "retry" needs no new paste.
            context.uow.onboardings.set_pending_token(context.onboarding, credentials.token)
            self._record_failure(context, result)
        else:
            # NoAccess: the login sees nothing at all.
            check = result if isinstance(result, AccountCheck) else None
            self._accept_credentials(context, credentials, check)

    def _reject_credentials(self, context: _Context, credentials: Credentials) -> None:
        onboarding, progress = context.onboarding, context.progress
        context.uow.onboardings.erase_pending_token(onboarding)
        progress.companies = progress.check = progress.domain = progress.chosen = None
        record = flow.register_failed_attempt(progress.failures, context.now)
        progress.credentials_error = "wrong_credentials"
        progress.failed_attempts = record.failures
        if record.blocked_until is not None:
            onboarding.blocked_until = record.blocked_until
            self._publish(
                context,
                events.CredentialAttemptsBlocked,
                username=credentials.username,
                blocked_until=record.blocked_until.isoformat(),
            )
        else:
            self._publish(
                context,
                events.CredentialsRejected,
                username=credentials.username,
                attempts_left=record.attempts_left,
            )

    def _record_failure(
        self, context: _Context, error: ProviderError, *, chosen_ids: list[int] | None = None
    ) -> None:
        context.progress.check = CheckRecord(CheckOutcome.UNAVAILABLE)
        if chosen_ids is not None:
            context.progress.save_draft({"chosen_ids": chosen_ids})
        self._publish(context, events.ProviderFailed, error=error.code)

    def _accept_credentials(
        self, context: _Context, credentials: Credentials, check: AccountCheck | None
    ) -> None:
        progress = context.progress
        companies = check.companies if check else []
        missing = check.missing_permissions if check else []
        domain = check.environment.domain if check else progress.domain or ""
        context.uow.onboardings.set_pending_token(context.onboarding, credentials.token)
        progress.domain = domain
        progress.companies = tuple(
            Company(id=company.id, number=company.number, name=company.name)
            for company in companies
        )
        progress.check = CheckRecord(CheckOutcome.OK, tuple(missing))
        progress.failed_attempts = ()
        self._transition(context, Event.VERIFY_CREDENTIALS)
        self._publish(
            context,
            events.CredentialsVerified,
            username=credentials.username,
            domain=domain,
            companies_seen=len(companies),
            missing_permissions=list(missing),
        )
        if missing:
            self._publish(context, events.PermissionsMissing, missing_permissions=list(missing))
        elif not companies:
            self._publish(context, events.NoCompaniesVisible, username=credentials.username)

    def _complete(self, context: _Context) -> None:
        uow, onboarding, progress = context.uow, context.onboarding, context.progress
        token = uow.onboardings.pending_token(onboarding)
        if token is None:
            raise InvalidInput("the verified token is gone; check the credentials again")
        chosen = progress.chosen or ()
        seen = len(progress.companies or ())
        username, domain = progress.username or "", progress.domain or ""
        self._transition(context, Event.COMPLETE)
        link = uow.links.create(
            onboarding=onboarding,
            username=username,
            token=token,
            domain=domain,
            companies=list(chosen),
            provider=self._provider.name,
        )
        progress.link_id = link.id
        progress.companies_seen = seen
        progress.completed_by = context.actor.user_id
        self._discard_secrets_and_lists(context)
        assert link.id is not None
        self._publish(
            context,
            events.OnboardingCompleted,
            link_id=link.id,
            username=username,
            domain=domain,
            companies=company_dicts(chosen),
            companies_seen=seen,
        )

    # --- what to show -----------------------------------------------------------------------

    def _ref(self, context: _Context) -> StepRef:
        assert context.onboarding.id is not None
        return StepRef(onboarding_id=context.onboarding.id, step=context.progress.step)

    def _outcome(self, context: _Context, *, notice: str | None = None) -> Outcome:
        onboarding, client = context.onboarding, context.client
        return Outcome(
            screen=screen_for(
                onboarding.state,
                context.progress,
                blocked_until=onboarding.blocked_until,
                settings=self._screens,
                now=context.now,
            ),
            language=client.language,
            client_name=client.name,
            ref=self._ref(context),
            notice=notice,
            invite=self._invite_status(onboarding, client) if context.state_changed else None,
        )

    def _invite_status(self, onboarding: Onboarding, client: Client) -> InviteStatus:
        progress = OnboardingProgress.from_json(onboarding.step_data)
        state = State(onboarding.state)
        assert onboarding.id is not None
        return InviteStatus(
            onboarding_id=onboarding.id,
            client_name=client.name,
            language=client.language,
            channel_id=onboarding.invite_channel_id or client.slack_channel_id,
            message_ts=onboarding.invite_message_ts,
            state=state,
            step_reached=flow.step_reached(state),
            companies_linked=len(progress.chosen or ()),
            completed_by=progress.completed_by,
            handoff_reason=progress.handoff_reason,
            support_phone=self._settings.support_phone,
        )


def clean_token(value: str) -> str:
    """A pasted token without the spaces and line breaks pasting brings along."""
    return "".join(value.split())


def search_companies(rows: Iterable[Company], query: str) -> list[Company]:
    """Companies whose name contains the query or whose number starts with it, sorted by name,
    at most MAX_SUGGESTIONS."""
    return _search(((row.id, row.number, row.name) for row in rows), query)


def _search(companies: Iterable[Sequence[Any]], query: str) -> list[Company]:
    """The search over stored [id, number, name] triples; rows are built for the best only."""
    needle = query.strip().casefold()
    matches = (
        (name.casefold(), number, company_id, name)
        for company_id, number, name in companies
        if needle in name.casefold() or str(number).startswith(needle)
    )
    return [
        Company(id=company_id, number=number, name=name)
        for _, number, company_id, name in heapq.nsmallest(MAX_SUGGESTIONS, matches)
    ]
