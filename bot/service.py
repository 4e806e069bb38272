"""The onboarding use cases: the only place that decides what happens next.

Each use case runs in one unit of work: load the onboarding, check that the actor may act on
it, apply one transition (see `bot.flow`), write the audit trail, publish status events and
commit. It returns an `Outcome`: the screen to show next, derived from the stored onboarding
alone (`screen_for`), so resuming after a closed modal or a restart shows the same thing.

Calls are blocking (database, payroll provider): async callers run them in a worker thread.
Provider calls happen between two short transactions, never inside one.

Idempotency: every view carries the onboarding's step counter (`step_data["step"]`) from when it
was drawn. A use case applies only when that counter is still current; a double click or a
retried request finds it moved on and gets the current screen back without a second effect.
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
from typing import Any, Protocol

from bot import events, flow
from bot.clock import Clock, SystemClock
from bot.core.payroll import (
    AccountCheck,
    Connection,
    NoAccess,
    NoSubscription,
    PayrollProvider,
    ProviderCompany,
    ProviderError,
    WrongCredentials,
)
from bot.events import EventBus, OnboardingEvent
from bot.flow import Event, IllegalTransition, State
from bot.settings import Settings
from storage.models import Client, Onboarding
from storage.repository import SqlUnitOfWork, StaleUpdate

logger = logging.getLogger(__name__)

# Payroll packages offered on the start screen; all but Nmbrs are handed to a person.
NMBRS = "nmbrs"
NOT_LISTED = "not_listed"
PACKAGES: tuple[str, ...] = (
    NMBRS,
    "loket",
    "afas",
    "visma_raet",
    "adp",
    "exact",
    "sdb",
    NOT_LISTED,
)

# Type-ahead answers: at least this many characters, at most this many companies.
MIN_QUERY_LENGTH = 2
MAX_SUGGESTIONS = 100

# A StaleUpdate means someone else committed first; re-running finds their result.
MAX_ATTEMPTS_ON_STALE = 3

# Steps a view can submit, named for the idempotency record.
STEP_TERMS = "terms"
STEP_PREPARATION = "preparation"
STEP_CREDENTIALS = "credentials"
STEP_CHECK_AGAIN = "check_again"
STEP_COMPANIES = "companies"
STEP_CONFIRM = "confirm_over_access"
STEP_NARROW = "narrow_filter"

# step_data keys other modules read (the manager's dashboard, reports).
DRAFT_FIELDS = ("package", "terms_ticked", "username", "chosen_ids")


class Membership(Protocol):
    """Who is in a Slack channel. Blocking; implementations cache briefly."""

    def is_member(self, channel_id: str, user_id: str) -> bool: ...


def refusal_reason(membership: Membership, client: Client, actor: Actor) -> str | None:
    """Why `actor` may not act on `client`'s onboarding ("wrong_channel" for a click from another
    channel, "not_a_member" of the client's channel), or None when they may."""
    if actor.channel_id is not None and actor.channel_id != client.conversation_id:
        return "wrong_channel"
    if not membership.is_member(client.conversation_id, actor.user_id):
        return "not_a_member"
    return None


class MembershipUnknown(Exception):
    """Channel membership could not be read (Slack unreachable or refusing)."""


@dataclass(frozen=True)
class Actor:
    """Who acts. `channel_id` is set when the action came from a message in a channel."""

    user_id: str
    team_id: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class StepRef:
    """An onboarding and the step counter the acting view was drawn at."""

    onboarding_id: int
    step: int


@dataclass(frozen=True)
class CompanyRow:
    id: int
    number: int
    name: str
    guid: str | None = None


# --- screens: what to show next (rendered by bot.slack.views) ----------------------------


@dataclass(frozen=True)
class TermsScreen:
    terms_url: str
    package: str | None = None
    terms_ticked: bool = False


@dataclass(frozen=True)
class PreparationScreen:
    permissions: dict[str, list[str]]


@dataclass(frozen=True)
class CredentialsScreen:
    username: str | None = None
    wrong_credentials: bool = False
    attempts_left: int = flow.MAX_FAILED_ATTEMPTS


@dataclass(frozen=True)
class BlockedScreen:
    until: datetime


@dataclass(frozen=True)
class UnavailableScreen:
    """Nmbrs could not be reached or failed; the customer can retry."""


@dataclass(frozen=True)
class PermissionsScreen:
    missing: dict[str, list[str]]


@dataclass(frozen=True)
class NoCompaniesScreen:
    username: str


@dataclass(frozen=True)
class CompanyChoiceScreen:
    companies: tuple[CompanyRow, ...]
    preselected: tuple[CompanyRow, ...] = ()
    narrowing: bool = False


@dataclass(frozen=True)
class OverAccessScreen:
    seen: int
    chosen: tuple[CompanyRow, ...]
    not_chosen: tuple[CompanyRow, ...]


@dataclass(frozen=True)
class CompletedScreen:
    companies: tuple[CompanyRow, ...]
    domain: str


@dataclass(frozen=True)
class HandoffScreen:
    reason: str  # "package_not_listed", "other_package" or "no_subscription"
    support_phone: str


@dataclass(frozen=True)
class EndedScreen:
    state: State


@dataclass(frozen=True)
class RefusedScreen:
    """The actor is not in the client's channel."""


@dataclass(frozen=True)
class ErrorScreen:
    reason: str  # "not_found", "illegal_step", "invalid_choice" or "try_again"


Screen = (
    TermsScreen
    | PreparationScreen
    | CredentialsScreen
    | BlockedScreen
    | UnavailableScreen
    | PermissionsScreen
    | NoCompaniesScreen
    | CompanyChoiceScreen
    | OverAccessScreen
    | CompletedScreen
    | HandoffScreen
    | EndedScreen
    | RefusedScreen
    | ErrorScreen
)

NOTICE_ALREADY_DONE = "already_done"


@dataclass(frozen=True)
class InviteStatus:
    """What the invite message in the client's channel shows."""

    onboarding_id: int
    client_name: str
    language: str
    channel_id: str
    message_ts: str | None
    state: State
    step_reached: int | None
    companies_linked: int = 0
    completed_by: str | None = None
    handoff_reason: str | None = None
    support_phone: str = ""


@dataclass(frozen=True)
class Outcome:
    screen: Screen
    language: str
    client_name: str = ""
    # None when the actor may not know the onboarding (refused, not found).
    ref: StepRef | None = None
    notice: str | None = None
    # Set when the channel's invite message should be redrawn.
    invite: InviteStatus | None = None


class InvalidInput(ValueError):
    """Input a legitimate view cannot produce (e.g. a company the login does not see)."""


@dataclass
class _Context:
    uow: SqlUnitOfWork
    onboarding: Onboarding
    client: Client
    actor: Actor
    now: datetime
    state_changed: bool = False


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
        self.event_bus = event_bus or EventBus()
        self._clock = clock or SystemClock()
        self._company_lists = CompanyListCache()

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
                    workspace_id=team_id,
                    conversation_id=channel_id,
                    contact_user_id=contact_user_id,
                    language=language or self._settings.default_language,
                    created_at=now,
                )
            )
            onboarding = uow.onboardings.add(
                Onboarding(
                    client_id=client.id,
                    state=State.INVITED.value,
                    step_data={"step": 0},
                    started_by=started_by,
                    conversation_id=channel_id,
                    created_at=now,
                    updated_at=now,
                    last_progress_at=now,
                    expires_at=now + timedelta(days=self._settings.expire_after_days),
                )
            )
            context = _Context(uow, onboarding, client, Actor(started_by), now)
            self._publish(context, events.InviteCreated, language=client.language)
            uow.commit()
            return self._invite_status(onboarding, client)

    def record_invite(self, onboarding_id: int, *, channel_id: str, message_ts: str) -> None:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            onboarding.conversation_id = channel_id
            onboarding.invite_message_ref = message_ts
            uow.commit()

    def invite_status(self, onboarding_id: int) -> InviteStatus:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            return self._invite_status(onboarding, self._client(uow, onboarding))

    # --- the customer's steps ---------------------------------------------------------------

    def open(self, onboarding_id: int, actor: Actor) -> Outcome:
        """Start or resume: the screen of the step reached, with what was entered before."""
        try:
            return self._open(onboarding_id, actor)
        except StaleUpdate:
            return self._open(onboarding_id, actor)

    def _open(self, onboarding_id: int, actor: Actor) -> Outcome:
        with self._unit_of_work() as uow:
            loaded = self._load(uow, onboarding_id, actor)
            if isinstance(loaded, Outcome):
                return loaded
            if "started_at" not in loaded.onboarding.step_data:
                loaded.onboarding.step_data["started_at"] = loaded.now.isoformat()
                self._publish(loaded, events.OnboardingStarted, actor_team_id=actor.team_id)
                uow.commit()
            return self._outcome(loaded)

    def accept_terms(self, ref: StepRef, actor: Actor, *, accepted: bool, package: str) -> Outcome:
        """Terms and package in one step: Nmbrs goes on, anything else goes to a person."""
        if not accepted:
            raise InvalidInput("the general terms must be accepted")
        if package not in PACKAGES:
            raise InvalidInput(f"unknown payroll package {package!r}")

        def apply(context: _Context) -> None:
            onboarding = context.onboarding
            terms_version = self._settings.terms_version
            context.uow.terms.record(
                onboarding.id,
                terms_version=terms_version,
                person_id=context.actor.user_id,
                workspace_id=context.actor.team_id,
                accepted_at=context.now,
            )
            self._set(onboarding, package=package)
            self._clear_draft(onboarding)
            if package == NMBRS:
                self._transition(context, Event.ACCEPT_TERMS)
                self._publish(
                    context, events.TermsAccepted, terms_version=terms_version, package=package
                )
                return
            reason = "package_not_listed" if package == NOT_LISTED else "other_package"
            self._hand_off(context, reason, package=package)

        return self._step(ref, actor, STEP_TERMS, State.INVITED, apply)

    def acknowledge_preparation(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer read how to prepare Nmbrs; next time they resume at the credentials."""

        def apply(context: _Context) -> None:
            self._set(context.onboarding, prepared=True)

        return self._step(ref, actor, STEP_PREPARATION, State.TERMS_ACCEPTED, apply)

    def submit_credentials(
        self, ref: StepRef, actor: Actor, *, username: str, token: str
    ) -> Outcome:
        """Check a username and token at the provider and move on according to the answer."""
        username, token = username.strip(), clean_token(token)
        if not username or not token:
            raise InvalidInput("username and token are both required")
        early = self._precheck(ref, actor, STEP_CREDENTIALS, State.TERMS_ACCEPTED)
        if early is not None:
            return early
        connection = Connection(account=username, secret=token)
        result = self._check_account(connection)
        return self._step(
            ref,
            actor,
            STEP_CREDENTIALS,
            State.TERMS_ACCEPTED,
            lambda context: self._apply_check(context, connection, result),
        )

    def check_again(self, ref: StepRef, actor: Actor) -> Outcome:
        """Run the check anew with the kept token: after fixing permissions or the klant login
        filter, or after Nmbrs failed (then the token was kept unverified for this retry)."""
        sources = {State.TERMS_ACCEPTED, State.CREDENTIALS_VERIFIED}
        with self._unit_of_work() as uow:
            loaded = self._load(uow, ref.onboarding_id, actor)
            if isinstance(loaded, Outcome):
                return loaded
            early = self._replay_or_refuse(loaded, ref, STEP_CHECK_AGAIN, sources)
            if early is not None:
                return early
            onboarding = loaded.onboarding
            token = uow.onboardings.pending_token(onboarding)
            username = onboarding.step_data.get("username")
            if token is None or not username:
                return self._outcome(loaded)
        connection = Connection(account=username, secret=token)
        result = self._check_account(connection)
        return self._step(
            ref,
            actor,
            STEP_CHECK_AGAIN,
            sources,
            lambda context: self._apply_check(context, connection, result),
        )

    def choose_companies(self, ref: StepRef, actor: Actor, company_ids: Iterable[int]) -> Outcome:
        """Keep the chosen companies (with GUIDs); complete at once unless the login sees more
        than was chosen, which first asks for the over-access confirmation."""
        chosen_ids = list(dict.fromkeys(int(company_id) for company_id in company_ids))
        if not chosen_ids:
            raise InvalidInput("choose at least one company")
        with self._unit_of_work() as uow:
            loaded = self._load(uow, ref.onboarding_id, actor)
            if isinstance(loaded, Outcome):
                return loaded
            early = self._replay_or_refuse(loaded, ref, STEP_COMPANIES, State.CREDENTIALS_VERIFIED)
            if early is not None:
                return early
            onboarding = loaded.onboarding
            if not _ready_to_choose(onboarding.step_data):
                return self._outcome(loaded)
            seen = {row.id for row in _companies(onboarding.step_data)}
            if not set(chosen_ids) <= seen:
                raise InvalidInput("a chosen company is not visible to this login")
            token = uow.onboardings.pending_token(onboarding)
            if token is None:
                raise InvalidInput("the verified token is gone; check the credentials again")
            connection = Connection(
                account=onboarding.step_data["username"],
                secret=token,
                environment=onboarding.step_data["domain"],
            )
            by_id = {row.id: row for row in _companies(onboarding.step_data)}
            chosen_companies = [provider_company(by_id[company_id]) for company_id in chosen_ids]
        try:
            to_link = self._provider.companies_to_link(connection, chosen_companies)
        except ProviderError as error:
            logger.warning("looking up company GUIDs failed: %s", error.code)
            failure = error
            return self._step(
                ref,
                actor,
                STEP_COMPANIES,
                State.CREDENTIALS_VERIFIED,
                lambda context: self._record_failure(context, failure, chosen_ids=chosen_ids),
            )

        def apply(context: _Context) -> None:
            onboarding = context.onboarding
            rows = {row.id: row for row in _companies(onboarding.step_data)}
            chosen = [company_row(company) for company in to_link]
            self._set(onboarding, chosen=[_row_dict(row) for row in chosen])
            self._clear_draft(onboarding)
            self._transition(context, Event.CHOOSE_COMPANIES)
            found = flow.over_access(list(rows), chosen_ids)
            if found is None:
                self._complete(context)
                return
            self._publish(
                context,
                events.OverAccessWarned,
                companies_seen=found.seen,
                companies_chosen=found.chosen,
            )

        return self._step(ref, actor, STEP_COMPANIES, State.CREDENTIALS_VERIFIED, apply)

    def confirm_over_access(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer understands the login sees more than was chosen, and links anyway."""

        def apply(context: _Context) -> None:
            data = context.onboarding.step_data
            self._publish(
                context,
                events.OverAccessConfirmed,
                companies_seen=len(data.get("companies", [])),
                companies_chosen=len(data.get("chosen", [])),
            )
            self._complete(context)

        return self._step(ref, actor, STEP_CONFIRM, State.COMPANIES_CHOSEN, apply)

    def narrow_filter(self, ref: StepRef, actor: Actor) -> Outcome:
        """Back from the over-access screen, to narrow the klant login filter and check again."""

        def apply(context: _Context) -> None:
            onboarding = context.onboarding
            data = onboarding.step_data
            self._publish(
                context, events.OverAccessNarrowing, companies_seen=len(data.get("companies", []))
            )
            chosen_ids = [row["id"] for row in data.get("chosen", [])]
            self._set(onboarding, chosen=None, narrowing=True)
            self._save_draft_fields(onboarding, {"chosen_ids": chosen_ids})
            self._transition(context, Event.RECONSIDER)

        return self._step(ref, actor, STEP_NARROW, State.COMPANIES_CHOSEN, apply)

    def save_draft(self, onboarding_id: int, actor: Actor, draft: dict[str, Any]) -> None:
        """What a closed modal held (never the token), so Start continues with it."""
        values = {key: value for key, value in draft.items() if key in DRAFT_FIELDS}
        if not values:
            return
        for attempt in range(MAX_ATTEMPTS_ON_STALE):
            try:
                with self._unit_of_work() as uow:
                    loaded = self._load(uow, onboarding_id, actor, report_refusal=False)
                    if isinstance(loaded, Outcome):
                        return
                    if State(loaded.onboarding.state) not in flow.OPEN_STATES:
                        return
                    if self._save_draft_fields(loaded.onboarding, values):
                        uow.commit()
                    return
            except StaleUpdate:
                if attempt == MAX_ATTEMPTS_ON_STALE - 1:
                    raise

    def suggest_companies(self, onboarding_id: int, actor: Actor, query: str) -> list[CompanyRow]:
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
            self._set(onboarding, failed_attempts=[])
            context = _Context(uow, onboarding, self._client(uow, onboarding), actor, self._now())
            self._publish(context, events.CredentialBlockLifted)
            uow.commit()

    def _end(self, onboarding_id: int, actor: Actor, event: Event) -> InviteStatus:
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            client = self._client(uow, onboarding)
            context = _Context(uow, onboarding, client, actor, self._now())
            self._transition(context, event)
            self._discard_secrets_and_lists(uow, onboarding)
            if event is Event.CANCEL:
                self._publish(context, events.OnboardingCancelled)
            else:
                self._publish(context, events.OnboardingExpired)
            uow.commit()
            return self._invite_status(onboarding, client)

    # --- the machinery of a step ------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock.now()

    def _client(self, uow: SqlUnitOfWork, onboarding: Onboarding) -> Client:
        client = uow.clients.get(onboarding.client_id)
        assert client is not None, "an onboarding always has a client"
        return client

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
        client = self._client(uow, onboarding)
        context = _Context(uow, onboarding, client, actor, self._now())
        reason = refusal_reason(self._membership, client, actor)
        if reason is None:
            return context
        if report_refusal:
            self._publish(context, events.AccessRefused, user_team_id=actor.team_id, reason=reason)
            uow.commit()
        logger.info("refused %s on onboarding %s: %s", actor.user_id, onboarding_id, reason)
        return Outcome(screen=RefusedScreen(), language=client.language)

    def _replay_or_refuse(
        self, context: _Context, ref: StepRef, step: str, sources: State | set[State]
    ) -> Outcome | None:
        """None when the step may be applied now; else the Outcome to answer with."""
        onboarding = context.onboarding
        data = onboarding.step_data
        current_step = data.get("step", 0)
        if ref.step != current_step:
            last = data.get("last") or {}
            exact_replay = last.get("name") == step and last.get("from") == ref.step
            return self._outcome(context, notice=None if exact_replay else NOTICE_ALREADY_DONE)
        state = State(onboarding.state)
        if state in (sources if isinstance(sources, set) else {sources}):
            return None
        if state not in flow.OPEN_STATES:
            return self._outcome(context)
        return Outcome(
            screen=ErrorScreen("illegal_step"),
            language=context.client.language,
            ref=self._ref(onboarding),
        )

    def _precheck(self, ref: StepRef, actor: Actor, step: str, source: State) -> Outcome | None:
        """Before a provider call: refuse, replay or stop at a block without calling it."""
        with self._unit_of_work() as uow:
            loaded = self._load(uow, ref.onboarding_id, actor)
            if isinstance(loaded, Outcome):
                return loaded
            early = self._replay_or_refuse(loaded, ref, step, source)
            if early is not None:
                return early
            if flow.is_blocked(loaded.onboarding.blocked_until, loaded.now):
                return self._outcome(loaded)
        return None

    def _step(
        self, ref: StepRef, actor: Actor, step: str, source: State | set[State], apply: Apply
    ) -> Outcome:
        """Apply one step in one transaction, re-running it when another commit won a race."""
        for attempt in range(MAX_ATTEMPTS_ON_STALE):
            try:
                with self._unit_of_work() as uow:
                    loaded = self._load(uow, ref.onboarding_id, actor)
                    if isinstance(loaded, Outcome):
                        return loaded
                    early = self._replay_or_refuse(loaded, ref, step, source)
                    if early is not None:
                        return early
                    try:
                        apply(loaded)
                    except IllegalTransition:
                        return Outcome(
                            screen=ErrorScreen("illegal_step"),
                            language=loaded.client.language,
                            ref=self._ref(loaded.onboarding),
                        )
                    data = loaded.onboarding.step_data
                    data["last"] = {"name": step, "from": ref.step}
                    data["step"] = ref.step + 1
                    loaded.onboarding.updated_at = loaded.now
                    uow.commit()
                    return self._outcome(loaded)
            except StaleUpdate:
                logger.info(
                    "onboarding %s changed meanwhile; re-running %s", ref.onboarding_id, step
                )
                if attempt == MAX_ATTEMPTS_ON_STALE - 1:
                    raise
        raise AssertionError("unreachable")

    def _transition(self, context: _Context, event: Event) -> None:
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

    def _publish(self, context: _Context, event_type: type[OnboardingEvent], **fields: Any) -> None:
        event = event_type(
            onboarding_id=context.onboarding.id,
            client_id=context.client.id,
            client_name=context.client.name,
            channel_id=context.client.conversation_id,
            actor=context.actor.user_id,
            at=context.now,
            **fields,
        )
        self.event_bus.publish(context.uow, event)

    @staticmethod
    def _set(onboarding: Onboarding, **values: Any) -> None:
        """Set step_data keys (None removes one); assignments keep the change tracked."""
        for key, value in values.items():
            if value is None:
                onboarding.step_data.pop(key, None)
            else:
                onboarding.step_data[key] = value

    def _save_draft_fields(self, onboarding: Onboarding, values: dict[str, Any]) -> bool:
        draft = dict(onboarding.step_data.get("draft") or {})
        merged = {**draft, **values}
        if merged == draft:
            return False
        onboarding.step_data["draft"] = merged
        return True

    def _clear_draft(self, onboarding: Onboarding) -> None:
        self._set(onboarding, draft=None)

    def _hand_off(self, context: _Context, reason: str, *, package: str | None = None) -> None:
        self._set(context.onboarding, handoff_reason=reason)
        self._transition(context, Event.HAND_OFF)
        self._discard_secrets_and_lists(context.uow, context.onboarding)
        self._publish(context, events.HandedOff, reason=reason, package=package)

    @staticmethod
    def _discard_secrets_and_lists(uow: SqlUnitOfWork, onboarding: Onboarding) -> None:
        uow.onboardings.erase_pending_token(onboarding)
        for key in ("companies", "draft", "check"):
            onboarding.step_data.pop(key, None)

    def _check_account(self, connection: Connection) -> AccountCheck | ProviderError:
        """The provider's whole check, or the error it ended with."""
        try:
            return self._provider.check_account(connection)
        except ProviderError as error:
            logger.info("credential check ended with %s", error.code)
            return error

    def _apply_check(
        self, context: _Context, connection: Connection, result: AccountCheck | ProviderError
    ) -> None:
        onboarding = context.onboarding
        self._set(onboarding, username=connection.account, credentials_error=None, narrowing=None)
        if isinstance(result, WrongCredentials):
            self._reject_credentials(context, connection)
        elif isinstance(result, NoSubscription):
            self._hand_off(context, "no_subscription", package=NMBRS)
        elif isinstance(result, ProviderError) and not isinstance(result, NoAccess):
            # Keep the token (encrypted) so "retry" needs no new paste.
            context.uow.onboardings.set_pending_token(onboarding, connection.secret)
            self._record_failure(context, result)
        else:
            check = (
                result
                if isinstance(result, AccountCheck)
                else None  # NoAccess: the login sees nothing at all
            )
            self._accept_credentials(context, connection, check)

    def _reject_credentials(self, context: _Context, connection: Connection) -> None:
        onboarding = context.onboarding
        if onboarding.state == State.CREDENTIALS_VERIFIED:
            self._transition(context, Event.RESET_CREDENTIALS)
        context.uow.onboardings.erase_pending_token(onboarding)
        for key in ("companies", "check", "domain", "chosen"):
            onboarding.step_data.pop(key, None)
        failures = [
            datetime.fromisoformat(moment)
            for moment in onboarding.step_data.get("failed_attempts", [])
        ]
        record = flow.register_failed_attempt(failures, context.now)
        self._set(
            onboarding,
            credentials_error="wrong_credentials",
            failed_attempts=[moment.isoformat() for moment in record.failures],
        )
        if record.blocked_until is not None:
            onboarding.blocked_until = record.blocked_until
            self._publish(
                context,
                events.CredentialAttemptsBlocked,
                username=connection.account,
                blocked_until=record.blocked_until.isoformat(),
            )
        else:
            self._publish(
                context,
                events.CredentialsRejected,
                username=connection.account,
                attempts_left=record.attempts_left,
            )

    def _record_failure(
        self, context: _Context, error: ProviderError, *, chosen_ids: list[int] | None = None
    ) -> None:
        self._set(context.onboarding, check={"outcome": "unavailable"})
        if chosen_ids is not None:
            self._save_draft_fields(context.onboarding, {"chosen_ids": chosen_ids})
        self._publish(context, events.ProviderFailed, error=error.code)

    def _accept_credentials(
        self, context: _Context, connection: Connection, check: AccountCheck | None
    ) -> None:
        onboarding = context.onboarding
        companies = [company_row(company) for company in check.companies] if check else []
        missing = check.missing_access if check else []
        domain = check.environment if check else onboarding.step_data.get("domain", "")
        context.uow.onboardings.set_pending_token(onboarding, connection.secret)
        self._set(
            onboarding,
            domain=domain,
            companies=[[company.id, company.number, company.name] for company in companies],
            check={"outcome": "ok", "missing_permissions": list(missing)},
            failed_attempts=[],
        )
        self._transition(context, Event.VERIFY_CREDENTIALS)
        self._publish(
            context,
            events.CredentialsVerified,
            username=connection.account,
            domain=domain,
            companies_seen=len(companies),
            missing_permissions=list(missing),
        )
        if missing:
            self._publish(context, events.PermissionsMissing, missing_permissions=list(missing))
        elif not companies:
            self._publish(context, events.NoCompaniesVisible, username=connection.account)

    def _complete(self, context: _Context) -> None:
        uow, onboarding = context.uow, context.onboarding
        data = onboarding.step_data
        token = uow.onboardings.pending_token(onboarding)
        if token is None:
            raise InvalidInput("the verified token is gone; check the credentials again")
        chosen = [CompanyRow(**row) for row in data["chosen"]]
        seen = len(data.get("companies", []))
        self._transition(context, Event.COMPLETE)
        link = uow.links.create(
            onboarding=onboarding,
            username=data["username"],
            token=token,
            domain=data["domain"],
            companies=chosen,
            provider=self._provider.name,
        )
        self._set(
            onboarding, link_id=link.id, companies_seen=seen, completed_by=context.actor.user_id
        )
        self._discard_secrets_and_lists(uow, onboarding)
        self._publish(
            context,
            events.OnboardingCompleted,
            link_id=link.id,
            username=data["username"],
            domain=data["domain"],
            companies=[_row_dict(row) for row in chosen],
            companies_seen=seen,
        )

    # --- what to show -----------------------------------------------------------------------

    def _ref(self, onboarding: Onboarding) -> StepRef:
        return StepRef(onboarding_id=onboarding.id, step=onboarding.step_data.get("step", 0))

    def _outcome(self, context: _Context, *, notice: str | None = None) -> Outcome:
        onboarding, client = context.onboarding, context.client
        return Outcome(
            screen=screen_for(
                onboarding, settings=self._settings, now=context.now, provider=self._provider
            ),
            language=client.language,
            client_name=client.name,
            ref=self._ref(onboarding),
            notice=notice,
            invite=self._invite_status(onboarding, client) if context.state_changed else None,
        )

    def _invite_status(self, onboarding: Onboarding, client: Client) -> InviteStatus:
        data = onboarding.step_data
        state = State(onboarding.state)
        return InviteStatus(
            onboarding_id=onboarding.id,
            client_name=client.name,
            language=client.language,
            channel_id=onboarding.conversation_id or client.conversation_id,
            message_ts=onboarding.invite_message_ref,
            state=state,
            step_reached=flow.step_reached(state),
            companies_linked=len(data.get("chosen", [])),
            completed_by=data.get("completed_by"),
            handoff_reason=data.get("handoff_reason"),
            support_phone=self._settings.support_phone,
        )


def clean_token(value: str) -> str:
    """A pasted token without the spaces and line breaks pasting brings along."""
    return "".join(value.split())


def search_companies(rows: Iterable[CompanyRow], query: str) -> list[CompanyRow]:
    """Companies whose name contains the query or whose number starts with it, sorted by name,
    at most MAX_SUGGESTIONS."""
    return _search(((row.id, row.number, row.name) for row in rows), query)


def _search(companies: Iterable[Sequence[Any]], query: str) -> list[CompanyRow]:
    """The search over stored [id, number, name] triples; rows are built for the best only."""
    needle = query.strip().casefold()
    matches = (
        (name.casefold(), number, company_id, name)
        for company_id, number, name in companies
        if needle in name.casefold() or str(number).startswith(needle)
    )
    return [
        CompanyRow(id=company_id, number=number, name=name)
        for _, number, company_id, name in heapq.nsmallest(MAX_SUGGESTIONS, matches)
    ]


def screen_for(
    onboarding: Onboarding, *, settings: Settings, now: datetime, provider: PayrollProvider
) -> Screen:
    """The screen of the step reached, from the stored onboarding alone; the provider only
    describes the access it requires."""
    data = onboarding.step_data
    draft = data.get("draft") or {}
    state = State(onboarding.state)
    check = data.get("check") or {}
    if state == State.INVITED:
        return TermsScreen(
            terms_url=settings.terms_url,
            package=draft.get("package"),
            terms_ticked=bool(draft.get("terms_ticked")),
        )
    if state == State.TERMS_ACCEPTED:
        if flow.is_blocked(onboarding.blocked_until, now):
            return BlockedScreen(until=onboarding.blocked_until)
        if check.get("outcome") == "unavailable":
            return UnavailableScreen()
        if not data.get("prepared"):
            return PreparationScreen(
                permissions=provider.describe_access(provider.required_access)
            )
        failures = len(data.get("failed_attempts", []))
        return CredentialsScreen(
            username=draft.get("username") or data.get("username"),
            wrong_credentials=data.get("credentials_error") == "wrong_credentials",
            attempts_left=flow.MAX_FAILED_ATTEMPTS - failures,
        )
    if state == State.CREDENTIALS_VERIFIED:
        if check.get("outcome") == "unavailable":
            return UnavailableScreen()
        if check.get("missing_permissions"):
            return PermissionsScreen(missing=provider.describe_access(check["missing_permissions"]))
        companies = _companies(data)
        if not companies:
            return NoCompaniesScreen(username=data.get("username", ""))
        by_id = {row.id: row for row in companies}
        preselected = tuple(
            by_id[company_id] for company_id in draft.get("chosen_ids", []) if company_id in by_id
        )
        return CompanyChoiceScreen(
            companies=companies, preselected=preselected, narrowing=bool(data.get("narrowing"))
        )
    if state == State.COMPANIES_CHOSEN:
        chosen = tuple(CompanyRow(**row) for row in data.get("chosen", []))
        chosen_ids = {row.id for row in chosen}
        companies = _companies(data)
        return OverAccessScreen(
            seen=len(companies),
            chosen=chosen,
            not_chosen=tuple(row for row in companies if row.id not in chosen_ids),
        )
    if state == State.COMPLETED:
        return CompletedScreen(
            companies=tuple(CompanyRow(**row) for row in data.get("chosen", [])),
            domain=data.get("domain", ""),
        )
    if state == State.HANDOFF:
        return HandoffScreen(
            reason=data.get("handoff_reason", "package_not_listed"),
            support_phone=settings.support_phone,
        )
    return EndedScreen(state=state)


def _ready_to_choose(data: dict[str, Any]) -> bool:
    check = data.get("check") or {}
    return (
        check.get("outcome") == "ok"
        and not check.get("missing_permissions")
        and bool(data.get("companies"))
    )


def _companies(data: dict[str, Any]) -> tuple[CompanyRow, ...]:
    return tuple(
        CompanyRow(id=company_id, number=number, name=name)
        for company_id, number, name in data.get("companies", [])
    )


def company_row(company: ProviderCompany) -> CompanyRow:
    """A provider's company as the steps keep it. Company ids are ints in step data and
    storage until they hold the provider's ref string (the SOAP company id is one)."""
    return CompanyRow(
        id=int(company.ref), number=company.number, name=company.name, guid=company.guid
    )


def provider_company(row: CompanyRow) -> ProviderCompany:
    return ProviderCompany(ref=str(row.id), number=row.number, name=row.name, guid=row.guid)


def _row_dict(row: CompanyRow) -> dict[str, Any]:
    return {"id": row.id, "number": row.number, "name": row.name, "guid": row.guid}
