"""What the customer's use cases on a link share: the context of a step, the runner's hooks
(load, refuse, replay, record, answer), the read before a provider call, and finishing a relink
or a change of companies.

Relink and company changes keep their progress with the onboarding (`LinkSession`, the
verified token in `pending_token`), so they survive a closed modal or a restart; views carry
the onboarding's `link_step` counter, so a double click or a retried request is answered with
the current screen instead of being applied twice. Provider calls happen between transactions.
The stages and the link's status follow the tables of `bot.core.link_flow`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from bot.clock import Clock, SystemClock
from bot.core import flow, link_flow
from bot.core.access import OTHER_ORGANISATION
from bot.core.events import (
    EventBus,
    LinkCompaniesChanged,
    LinkEvent,
    LinkMovedToRest,
    LinkRelinked,
)
from bot.core.link_flow import LinkMove, LinkSession, LinkStatus, LinkStep, SessionKind, Stage
from bot.core.model import Actor, Company, StepRef
from bot.core.payroll import (
    NMBRS_REST,
    AccountCheck,
    Connection,
    ConsentProvider,
    PayrollProvider,
    ProviderCompany,
    ProviderError,
    ProviderUnavailable,
    WrongCredentials,
)
from bot.core.progress import OnboardingProgress
from bot.core.screens import (
    NOTICE_ALREADY_DONE,
    CompanyChoiceScreen,
    ConsentScreen,
    ErrorScreen,
    Outcome,
    RefusedScreen,
    ScreenSettings,
    link_screen,
)
from bot.ports import LinkNotices, Membership
from bot.settings import Settings
from bot.usecases.consent import PURPOSE_RELINK, ConsentFlow, ConsentTicket
from bot.usecases.grants import GrantKeeper, GrantRefused
from bot.usecases.link_notices import (
    link_event,
    names,
    notice_key,
    publish_link_event,
    refs,
    sent_ts,
)
from bot.usecases.onboarding import screen_settings
from bot.usecases.providers import Providers
from bot.usecases.steps import StepRunner
from bot.usecases.transitions import (
    Reports,
    customer_refusal,
    invite_status,
    with_linked_elsewhere,
)
from storage.links import LinkNotActive, replace_companies
from storage.models import Client, LinkedCompany, Onboarding, PayrollLink
from storage.repository import SqlUnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

AUDIT_ACCESS_REFUSED = "link_access_refused"


@dataclass
class LinkContext:
    uow: SqlUnitOfWork
    onboarding: Onboarding
    client: Client
    link: PayrollLink
    actor: Actor
    now: datetime
    progress: OnboardingProgress
    session: LinkSession = field(default_factory=LinkSession)
    invite_changed: bool = False


Apply = Callable[[LinkContext], None]


class LinkSteps:
    """The machinery of the customer's use cases on a link. Blocking; async callers use a
    worker thread."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        providers: Providers,
        membership: Membership,
        settings: Settings,
        event_bus: EventBus,
        reports: Reports,
        notices: LinkNotices,
        clock: Clock | None = None,
        consent_provider: PayrollProvider | None = None,
    ):
        self._unit_of_work = unit_of_work
        # Every provider by name: a link is served by the one it names (PayrollLink.provider).
        self._providers = providers
        # The provider customers consent to (the REST API), when configured: every relink is
        # then a consent, and its screens take that provider's required access.
        self._consent_provider = consent_provider
        # The consent flow in the browser (bot.usecases.consent), which draws the consent
        # screen's start link; set by the composition root with the relink's purpose.
        self.consents: ConsentFlow | None = None
        self._membership = membership
        self._settings = settings
        # The onboarding's status events (audited, reported) and the reports of an unlink.
        self._event_bus = event_bus
        self._reports = reports
        self._notices = notices
        self._clock = clock or SystemClock()
        # REST grants kept valid for the link's own calls (a company change).
        self._grants = GrantKeeper(
            unit_of_work=unit_of_work, providers=providers, notices=notices, clock=self._clock
        )
        self._steps = StepRunner(
            unit_of_work=unit_of_work,
            load=self._load,
            answer=self._outcome,
            illegal=self._illegal,
            subject="link of onboarding",
        )

    def _provider(self, name: str | None) -> PayrollProvider:
        """The provider a link names (ProviderMissing when this process has none of that name)."""
        return self._providers.get(name)

    @cached_property
    def _screens_by_provider(self) -> dict[str, ScreenSettings]:
        return {}

    def _screens(self, provider: str | None) -> ScreenSettings:
        """What screens take from the settings and the link's provider (read when first drawn)."""
        cache = self._screens_by_provider
        key = provider or ""
        if key not in cache:
            cache[key] = screen_settings(self._settings, self._provider(provider))
        return cache[key]

    @cached_property
    def _consent_screens(self) -> ScreenSettings:
        """The screens of a relink by consent: the consent provider's required access."""
        if self._consent_provider is None:
            return self._screens(None)
        return screen_settings(self._settings, self._consent_provider)

    def _apply_choice(self, context: LinkContext) -> None:
        if context.session.kind == SessionKind.RELINK:
            if context.onboarding.pending_token is None:
                self._back_to_credentials(context)
                return
            if link_flow.by_consent(context.session):
                self._finish_by_consent(context)
                return
            self._finish_relink(context)
        else:
            self._finish_companies(context)

    def _finish_relink(self, context: LinkContext) -> None:
        """Update the link in place: credentials, domain and companies; active again."""
        uow, link, session = context.uow, context.link, context.session
        relinked = self._relink_in_place(context)
        companies, notice = relinked.companies, relinked.notice
        publish_link_event(
            uow,
            self._notices,
            self._event(
                context,
                LinkRelinked,
                companies=names(companies),
                removed=names(relinked.removed),
                companies_seen=len(session.seen or ()),
                notice_key=notice,
                notice_ts=sent_ts(uow, notice) if notice else None,
                previous_username=relinked.previous_login,
                username=link.account_label,
                previous_environment=relinked.previous_environment,
                environment=link.environment["domain"],
            ),
        )
        self._done(context, companies, domain=link.environment["domain"])

    def _finish_by_consent(self, context: LinkContext) -> None:
        """The link on the REST API, in the step's one transaction: the grant stored encrypted
        in place of the SOAP token (erased so), the chosen REST companies linked by their
        companyId, active again; "moved to the REST API" audited and reported (a REST link
        consented again: relinked)."""
        uow, link, session = context.uow, context.link, context.session
        moved = link.provider != NMBRS_REST
        link.provider = NMBRS_REST
        # The grant is new: the daily renewal counts its window from now.
        link.grant_renewed_at = context.now
        relinked = self._relink_in_place(context)
        companies, notice = relinked.companies, relinked.notice
        # No longer linked: the link's companies whose REST company was not found or unticked.
        chosen_ids = {company.id for company in companies}
        dropped = tuple(
            match.linked.name
            for match in session.matches or ()
            if match.rest is None or match.rest.id not in chosen_ids
        )
        publish_link_event(
            uow,
            self._notices,
            self._event(
                context,
                LinkMovedToRest if moved else LinkRelinked,
                companies=names(companies),
                removed=dropped if moved else names(relinked.removed),
                companies_seen=len(session.seen or ()),
                notice_key=notice,
                notice_ts=sent_ts(uow, notice) if notice else None,
                previous_username=relinked.previous_login,
                username=session.approved_by or link.account_label,
                previous_environment=relinked.previous_environment,
                environment=link.environment["domain"],
            ),
        )
        self._done(context, companies, domain=link.environment["domain"])

    def _relink_in_place(self, context: LinkContext) -> Relinked:
        """The relink's new login, environment, secret and companies stored on the link, which
        is active again; the kept secret erased from the onboarding."""
        uow, onboarding, link, session = (
            context.uow,
            context.onboarding,
            context.link,
            context.session,
        )
        assert link.id is not None and onboarding.pending_token is not None
        notice = notice_key(link.id, (link.problem or {}).get("since", ""))
        was_broken = link.status == LinkStatus.NEEDS_RELINK
        previous_login, previous_environment = link.account_label, link.environment["domain"]
        link.account_label = session.username or ""
        link.environment = {"domain": session.domain or ""}
        link.encrypted_secret = onboarding.pending_token
        link.status = link_flow.next_status(link.status, LinkMove.RELINK).value
        link.problem, link.verified_at = None, context.now
        uow.session.add(link)
        companies = session.chosen or ()
        _, removed = replace_companies(uow, link.id, refs(companies))
        uow.onboardings.erase_pending_token(onboarding)
        self._keep_on_onboarding(
            context, companies, username=link.account_label, domain=link.environment["domain"]
        )
        context.progress.failed_attempts = ()
        return Relinked(
            companies=companies,
            removed=removed,
            previous_login=previous_login,
            previous_environment=previous_environment,
            notice=notice if was_broken else None,
        )

    def _finish_companies(self, context: LinkContext) -> None:
        uow, link, session = context.uow, context.link, context.session
        assert link.id is not None
        companies = session.chosen or ()
        added, removed = replace_companies(uow, link.id, refs(companies))
        self._keep_on_onboarding(context, companies)
        if added or removed:
            publish_link_event(
                uow,
                self._notices,
                self._event(
                    context,
                    LinkCompaniesChanged,
                    companies=names(companies),
                    added=names(added),
                    removed=names(removed),
                    companies_seen=len(session.seen or ()),
                ),
            )
        self._done(context, companies, domain=link.environment["domain"])

    def _keep_on_onboarding(
        self,
        context: LinkContext,
        companies: Sequence[Company],
        *,
        username: str | None = None,
        domain: str | None = None,
    ) -> None:
        """The onboarding's own record of the link (the invite message counts its companies)."""
        progress = context.progress
        progress.chosen = tuple(companies)
        if username is not None:
            progress.username = username
        if domain is not None:
            progress.domain = domain
        context.invite_changed = True

    def _done(self, context: LinkContext, companies: Sequence[Company], *, domain: str) -> None:
        """The session ends at DONE, keeping only what the completed screen shows."""
        link_flow.move(context.session, Stage.DONE)
        context.session = LinkSession(
            kind=context.session.kind,
            stage=Stage.DONE.value,
            domain=domain,
            chosen=tuple(companies),
        )

    def _back_to_credentials(self, context: LinkContext) -> None:
        """The kept token is gone (dropped as abandoned): ask for it again (by consent: consent
        again)."""
        if link_flow.by_consent(context.session):
            self._consent_again(context)
            return
        link_flow.move(context.session, Stage.CREDENTIALS)
        context.session.wrong = False

    def _consent_again(self, context: LinkContext) -> None:
        """A relink by consent back at the consent screen, its kept grant erased."""
        context.uow.onboardings.erase_pending_token(context.onboarding)
        session = context.session
        link_flow.move(session, Stage.CONSENT)
        session.seen = session.guids = session.missing = session.matches = None
        session.chosen_ids = session.chosen = None

    def _event(self, context: LinkContext, event_type: type[LinkEvent], **fields: Any) -> LinkEvent:
        return link_event(
            event_type,
            context.link,
            context.client,
            actor=context.actor.user_id,
            at=context.now,
            **fields,
        )

    def _check(
        self, connection: Connection, linked_ids: set[str], *, provider: str
    ) -> AccountCheck | ProviderError:
        try:
            return self._provider(provider).check_account(
                connection, to_link={str(company_id) for company_id in linked_ids}
            )
        except ProviderError as error:
            logger.info("relink check ended with %s", error.code)
            return error

    def _list(self, snapshot: Snapshot) -> list[ProviderCompany] | ProviderError:
        assert snapshot.connection is not None
        connection = snapshot.connection
        provider = self._provider(snapshot.provider)
        try:
            if snapshot.kind != SessionKind.RELINK and isinstance(provider, ConsentProvider):
                # The link's own grant: its access token refreshed when about to expire (a
                # refused grant marks the link needs_relink, reported once).
                try:
                    connection = self._grants.connection(snapshot.link_id).connection
                except GrantRefused:
                    return WrongCredentials("the link's grant was refused")
                except LinkNotActive:
                    return ProviderUnavailable("the link changed meanwhile")
            return provider.list_companies(connection)
        except ProviderError as error:
            logger.info("listing companies ended with %s", error.code)
            return error

    def _snapshot(
        self,
        ref: StepRef | None,
        actor: Actor,
        step: LinkStep | None,
        *,
        onboarding_id: int | None = None,
        kind: SessionKind | None = None,
    ) -> tuple[Outcome | None, Snapshot]:
        """What a provider call needs, read in a short transaction; or the Outcome to answer
        with at once (refused, replayed, not possible now)."""
        read = self._steps.peek(
            ref.onboarding_id if ref else onboarding_id or 0,
            actor,
            lambda uow, context: self._read_snapshot(context, kind or context.session.kind),
            gate=lambda context: self._gate(context, ref, step),
        )
        if isinstance(read, Outcome):
            return read, NO_SNAPSHOT
        return None, read

    def _read_snapshot(self, context: LinkContext, kind: str | None) -> Snapshot:
        """The connection to call with: a relink's kept token, else the link's own."""
        uow, link, session = context.uow, context.link, context.session
        linked = tuple(
            Company(id=row.provider_company_ref, number=row.number, name=row.name, guid=row.guid)
            for row in uow.links.companies(link.id or 0)
        )
        connection = None
        if kind == SessionKind.RELINK:
            pending = uow.onboardings.pending_token(context.onboarding)
            if pending is not None:
                connection = Connection(
                    account=session.username or "",
                    secret=pending,
                    environment=session.domain or link.environment["domain"],
                )
        else:
            token = uow.links.token(link)
            if token:
                connection = Connection(
                    account=link.account_label, secret=token, environment=link.environment["domain"]
                )
        return Snapshot(
            kind=kind,
            status=link.status,
            connection=connection,
            link_token=link.encrypted_secret or b"",
            linked=linked,
            seen=session.seen or (),
            known_guids=dict(session.guids or {}),
            provider=link.provider,
            link_id=link.id or 0,
            by_consent=link_flow.by_consent(session) and kind == SessionKind.RELINK,
        )

    def _run(
        self,
        onboarding_id: int,
        actor: Actor,
        apply: Apply,
        *,
        ref: StepRef | None = None,
        step: LinkStep | None = None,
    ) -> Outcome:
        """Apply one step in one transaction (see `bot.usecases.steps`)."""
        _, outcome = self._steps.run(
            onboarding_id,
            actor,
            apply,
            record=self._record,
            gate=lambda context: self._gate(context, ref, step),
        )
        return outcome

    def _record(self, context: LinkContext) -> None:
        progress = context.progress
        progress.link_session = context.session
        progress.link_step += 1
        context.onboarding.updated_at = context.now
        context.onboarding.step_data = progress.to_json()

    def _with_start(self, context: LinkContext, screen: ConsentScreen) -> ConsentScreen:
        return _with_start_link(self.consents, context, screen)

    def _illegal(self, context: LinkContext) -> Outcome:
        return Outcome(
            screen=ErrorScreen("illegal_step"),
            language=context.client.language,
            ref=self._outcome(context).ref,
        )

    def _gate(
        self, context: LinkContext, ref: StepRef | None, step: LinkStep | None
    ) -> Outcome | None:
        """None when the step may be applied now; else the Outcome to answer with."""
        early = self._replay_or_refuse(context, ref, step)
        if early is None and context.link.revoked_at is not None:
            return self._outcome(context)
        return early

    def _load(
        self, uow: SqlUnitOfWork, onboarding_id: int, actor: Actor, *, audit_refusal: bool = True
    ) -> LinkContext | Outcome:
        language = self._settings.default_language
        onboarding = uow.onboardings.get(onboarding_id)
        link = uow.links.for_onboarding(onboarding_id) if onboarding is not None else None
        if onboarding is None or link is None:
            return Outcome(screen=ErrorScreen("not_found"), language=language)
        client = uow.clients.get(onboarding.client_id)
        assert client is not None
        reason = customer_refusal(self._membership, client, actor)
        if reason is not None:
            logger.info(
                "refused %s on the link of onboarding %s: %s", actor.user_id, onboarding_id, reason
            )
            if audit_refusal:
                uow.audit.record(
                    AUDIT_ACCESS_REFUSED,
                    actor=actor.user_id,
                    onboarding_id=onboarding_id,
                    link_id=link.id,
                    detail={"reason": reason, "user_team_id": actor.team_id},
                )
                uow.commit()
            return Outcome(
                screen=RefusedScreen(other_organisation=reason == OTHER_ORGANISATION),
                language=client.language,
            )
        progress = OnboardingProgress.from_json(onboarding.step_data)
        session = progress.link_session or LinkSession()
        return LinkContext(
            uow, onboarding, client, link, actor, self._clock.now(), progress, session
        )

    def _manager_context(self, uow: SqlUnitOfWork, link_id: int, actor: Actor) -> LinkContext:
        """A link and its onboarding for the account manager (checked by the transport's gate,
        not as a customer); NotFound when the link does not exist."""
        link = uow.links.require(link_id)
        onboarding = uow.onboardings.require(link.onboarding_id)
        client = uow.clients.get(onboarding.client_id)
        assert client is not None
        progress = OnboardingProgress.from_json(onboarding.step_data)
        session = progress.link_session or LinkSession()
        return LinkContext(
            uow, onboarding, client, link, actor, self._clock.now(), progress, session
        )

    def _replay_or_refuse(
        self, context: LinkContext, ref: StepRef | None, step: LinkStep | None
    ) -> Outcome | None:
        """None when the step may be applied now; else the Outcome to answer with."""
        if ref is None or step is None:
            return None
        if ref.step != context.progress.link_step:
            return self._outcome(context, notice=NOTICE_ALREADY_DONE)
        if link_flow.may_run(step, context.session) and not flow.is_blocked(
            context.onboarding.blocked_until, context.now
        ):
            return None
        # Not from this stage (or attempts are blocked): the current screen says where it is.
        return self._outcome(context)

    def _outcome(self, context: LinkContext, *, notice: str | None = None) -> Outcome:
        onboarding, link = context.onboarding, context.link
        screen = link_screen(
            context.progress,
            unlinked=link.revoked_at is not None,
            link_username=link.account_label,
            link_domain=link.environment["domain"],
            blocked_until=onboarding.blocked_until,
            settings=(
                self._consent_screens
                if link_flow.by_consent(context.progress.link_session)
                else self._screens(link.provider)
            ),
            now=context.now,
        )
        if isinstance(screen, ConsentScreen):
            screen = self._with_start(context, screen)
        if isinstance(screen, CompanyChoiceScreen):
            screen = with_linked_elsewhere(
                context.uow,
                screen,
                provider=context.session.provider or link.provider,
                onboarding_id=onboarding.id or 0,
            )
        return Outcome(
            screen=screen,
            language=context.client.language,
            client_name=context.client.name,
            ref=StepRef(onboarding_id=onboarding.id or 0, step=context.progress.link_step),
            notice=notice,
            # The invite message counts the linked companies: redrawn when they changed.
            invite=(
                invite_status(
                    onboarding, context.client, support_phone=self._settings.support_phone
                )
                if context.invite_changed
                else None
            ),
        )


def _with_start_link(
    consents: ConsentFlow | None, context: LinkContext, screen: ConsentScreen
) -> ConsentScreen:
    """The relink's consent screen with its start link, drawn for this viewer and window."""
    if consents is None or context.actor.team_id is None:
        return screen
    view_key = ConsentFlow.new_view_key()
    ticket = ConsentTicket(
        purpose=PURPOSE_RELINK,
        onboarding_id=context.onboarding.id or 0,
        step=context.progress.link_step,
        user_id=context.actor.user_id,
        team_id=context.actor.team_id,
        view_key=view_key,
    )
    return replace(screen, start_url=consents.start_url(ticket), view_key=view_key)


@dataclass(frozen=True)
class Relinked:
    """What a relink changed on its link, for its report."""

    companies: tuple[Company, ...]
    removed: list[LinkedCompany]
    previous_login: str
    previous_environment: str
    # The needs_relink notice the relink answers (its key), when the link was broken.
    notice: str | None


@dataclass(frozen=True)
class Snapshot:
    kind: str | None
    status: str
    connection: Connection | None
    link_token: bytes
    linked: tuple[Company, ...]
    seen: tuple[Company, ...]
    known_guids: dict[str, str]
    # The link's provider (PayrollLink.provider), which every call for it goes through.
    provider: str = ""
    link_id: int = 0
    # A relink by consent: its connection is the REST grant kept with the session.
    by_consent: bool = False

    @property
    def linked_ids(self) -> set[str]:
        return {row.id for row in self.linked}


NO_SNAPSHOT = Snapshot(None, "", None, b"", (), (), {})
