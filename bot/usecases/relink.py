"""Relinking. Once the REST API is configured a relink is a consent at Nmbrs
(`relink_consented`, called by the consent's callback): a SOAP link confirmed so moves to the
REST API in one transaction (grant stored encrypted, companies' refs the REST companyIds, the
SOAP token gone). Without it: the same credential screens as the onboarding; the link is
updated in place when the new username and token work, chosen companies kept where still
visible. A login of
another Nmbrs environment than the link's changes nothing until the account manager confirms
it (`confirm_environment`, from the App Home)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core import flow, link_flow
from bot.core.events import LinkEnvironmentConfirmed, LinkEnvironmentUnconfirmed
from bot.core.link_flow import LinkStep, SessionKind, Stage
from bot.core.matching import match_companies
from bot.core.model import Actor, Company, InviteStatus, StepRef
from bot.core.payroll import (
    NMBRS_REST,
    AccountCheck,
    Connection,
    Consent,
    ConsentProvider,
    NoAccess,
    NoSubscription,
    ProviderError,
    QuotaExceeded,
    Throttled,
    WrongCredentials,
)
from bot.core.screens import (
    CONSENT_EXCHANGE_FAILED,
    CONSENT_QUOTA,
    CONSENT_REFUSED,
    CONSENT_THROTTLED,
    CONSENT_UNAVAILABLE,
    ErrorScreen,
    Outcome,
)
from bot.usecases.consent import (
    PURPOSE_RELINK,
    ConsentTicket,
    ConsumedConsent,
    Finished,
    PageAnswer,
    page_for,
)
from bot.usecases.credentials import company_row, typed_connection
from bot.usecases.link_notices import publish_link_event
from bot.usecases.link_steps import LinkContext, LinkSteps
from bot.usecases.steps import retry_on_stale

logger = logging.getLogger(__name__)

AUDIT_RELINK_REJECTED = "link_relink_rejected"


@dataclass(frozen=True)
class ConfirmedRelink:
    """What the account manager's confirmation did: the client, and its invite to redraw
    when the link was updated."""

    client_name: str
    invite: InviteStatus | None


def _erase_consents(context: LinkContext) -> None:
    """The used consent request is erased in the step that applies it (with any other of the
    onboarding's this step outdates)."""
    context.uow.consents.erase_for_onboarding(context.onboarding.id or 0)


def consent_error(failure: ProviderError) -> str:
    """What the consent screen says of a failed connect (`bot.core.screens.CONSENT_ERRORS`)."""
    if isinstance(failure, WrongCredentials):
        return CONSENT_EXCHANGE_FAILED
    if isinstance(failure, QuotaExceeded):
        return CONSENT_QUOTA
    if isinstance(failure, Throttled):
        return CONSENT_THROTTLED
    return CONSENT_UNAVAILABLE


class Relink(LinkSteps):
    def open_relink(self, onboarding_id: int, actor: Actor) -> Outcome:
        """The credentials form, or the relink in progress where it was left."""

        def apply(context: LinkContext) -> None:
            if link_flow.is_open_relink(context.session):
                return
            context.uow.onboardings.erase_pending_token(context.onboarding)
            if self._relinks_by_consent:
                context.session = link_flow.start_by_consent(context.now)
                return
            context.session = link_flow.start(SessionKind.RELINK, Stage.CREDENTIALS, context.now)
            context.session.username = context.link.account_label

        return self._run(onboarding_id, actor, apply)

    @property
    def _relinks_by_consent(self) -> bool:
        """Every relink is a consent at Nmbrs once the REST API is configured: a SOAP link
        relinked moves to the REST API, a REST link gets a new grant."""
        return self._consent_provider is not None

    def relink_consented(self, ref: StepRef, actor: Actor, consent: Consent) -> Outcome:
        """The consent's callback for a relink (purpose "relink", bound to the onboarding, its
        link step and the person): the grant kept encrypted with the session, and every company
        the login sees listed with the link's companies matched (by GUID, else by number and
        name) and ticked, each saying how it matched. Nothing of the link changes until the
        customer confirms the choice."""
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: self._apply_consent(context, consent),
            ref=ref,
            step=LinkStep.CONSENT_GIVEN,
        )

    def relink_consent_failed(self, ref: StepRef, actor: Actor, error: str) -> Outcome:
        """The consent did not connect (refused, the code exchange failed, Nmbrs unavailable or
        throttled: `bot.core.screens.CONSENT_ERRORS`): the consent screen again, saying why."""

        def apply(context: LinkContext) -> None:
            _erase_consents(context)
            context.uow.onboardings.erase_pending_token(context.onboarding)
            link_flow.move(context.session, Stage.CONSENT)
            context.session.consent_error = error

        return self._run(ref.onboarding_id, actor, apply, ref=ref, step=LinkStep.CONSENT_GIVEN)

    def consent_provider_for(self, ref: StepRef, actor: Actor) -> ConsentProvider | Outcome:
        """The provider to consent at for the relink of `ref` (the consent flow's start), when
        that relink still waits at its consent screen at that step and `actor` may act on it;
        else the Outcome that says where it is (refused, moved on)."""
        early, _ = self._snapshot(ref, actor, LinkStep.CONSENT_GIVEN)
        if early is None and not isinstance(self._consent_provider, ConsentProvider):
            # No consent provider any more (the REST API's settings were removed).
            early = Outcome(
                screen=ErrorScreen("not_found"), language=self._settings.default_language
            )
        if early is not None:
            return early
        assert isinstance(self._consent_provider, ConsentProvider)
        return self._consent_provider

    def finish_consent(
        self,
        ref: StepRef,
        actor: Actor,
        *,
        code: str | None,
        error: str | None,
        code_verifier: str,
    ) -> Outcome:
        """The consent flow's callback for a relink: the code exchanged and the connection
        checked at the provider (outside any transaction), then one step: `relink_consented`,
        or the consent screen saying why it did not connect (refused, the exchange failed,
        Nmbrs unavailable, throttled or its quota used up), or the hand-off without an API
        subscription."""
        provider = self.consent_provider_for(ref, actor)
        if isinstance(provider, Outcome):
            return provider
        if code is None:
            logger.info("relink consent of onboarding %s: refused (%s)", ref.onboarding_id, error)
            return self.relink_consent_failed(ref, actor, CONSENT_REFUSED)
        try:
            consent = provider.connect(
                code, redirect_uri=self._settings.nmbrs_redirect_uri, code_verifier=code_verifier
            )
        except NoSubscription:
            return self._run(
                ref.onboarding_id,
                actor,
                self._no_subscription,
                ref=ref,
                step=LinkStep.CONSENT_GIVEN,
            )
        except ProviderError as failure:
            logger.info("relink consent's connect ended with %s", failure.code)
            return self.relink_consent_failed(ref, actor, consent_error(failure))
        return self.relink_consented(ref, actor, consent)

    def _no_subscription(self, context: LinkContext) -> None:
        _erase_consents(context)
        context.uow.onboardings.erase_pending_token(context.onboarding)
        link_flow.move(context.session, Stage.HANDOFF)

    def _apply_consent(self, context: LinkContext, consent: Consent) -> None:
        _erase_consents(context)
        uow, onboarding, session = context.uow, context.onboarding, context.session
        check = consent.check
        uow.onboardings.set_pending_token(onboarding, consent.connection.secret)
        session.username = consent.connection.account
        session.approved_by = consent.approved_by
        session.debtors = tuple(consent.debtors)
        session.domain = consent.connection.environment
        session.consent_error = None
        rows = [company_row(company) for company in check.companies]
        session.seen = tuple(Company(id=c.id, number=c.number, name=c.name) for c in rows)
        # A REST company's GUID is its companyId.
        session.guids = {c.id: c.guid or c.id for c in rows}
        session.missing = tuple(check.missing_access) or None
        link = context.link
        if link.provider == NMBRS_REST and link_flow.needs_confirmation(
            session, link.environment["domain"], debtors=True
        ):
            # A REST link consented again for other debtors: as a relink to another SOAP
            # environment, nothing changes until an account manager confirms.
            self._await_confirmation(context)
            return
        self._choose_after_consent(context)

    def _await_confirmation(self, context: LinkContext) -> None:
        """The relink's login is of another environment: it waits for an account manager."""
        link_flow.move(context.session, Stage.CONFIRM_ENVIRONMENT)
        publish_link_event(
            context.uow,
            self._notices,
            self._event(context, LinkEnvironmentUnconfirmed, **self._logins(context)),
        )

    def _choose_after_consent(self, context: LinkContext) -> None:
        """The consent's companies to choose from, the link's own matched and ticked (or the
        missing data, or that the login sees none)."""
        uow, session = context.uow, context.session
        if session.missing:
            link_flow.move(session, Stage.PERMISSIONS)
            return
        if not session.seen:
            link_flow.move(session, Stage.NO_COMPANIES)
            return
        linked = [
            Company(id=row.provider_company_ref, number=row.number, name=row.name, guid=row.guid)
            for row in uow.links.companies(context.link.id or 0)
        ]
        matches = match_companies(linked, session.seen)
        session.matches = matches
        session.chosen_ids = tuple(match.rest.id for match in matches if match.rest)
        link_flow.move(session, Stage.CHOOSE)

    def submit_relink(self, ref: StepRef, actor: Actor, *, username: str, token: str) -> Outcome:
        """Check the new username and token; the link is updated in place when they work."""
        connection = typed_connection(username, token)
        step = LinkStep.SUBMIT_RELINK
        early, snapshot = self._snapshot(ref, actor, step)
        if early is not None:
            return early
        result = self._check(connection, snapshot.linked_ids, provider=snapshot.provider)
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: self._apply_relink_check(context, connection, result),
            ref=ref,
            step=step,
        )

    def _apply_relink_check(
        self, context: LinkContext, connection: Connection, result: AccountCheck | ProviderError
    ) -> None:
        uow, onboarding, session = context.uow, context.onboarding, context.session
        session.username, session.wrong = connection.account, False
        if isinstance(result, WrongCredentials):
            uow.onboardings.erase_pending_token(onboarding)
            session.username = None  # a rejected username is neither kept nor shown again
            self._reject(context)
        elif isinstance(result, NoSubscription):
            uow.onboardings.erase_pending_token(onboarding)
            link_flow.move(session, Stage.HANDOFF)
        elif isinstance(result, ProviderError) and not isinstance(result, NoAccess):
            uow.onboardings.set_pending_token(onboarding, connection.secret)
            link_flow.move(session, Stage.UNAVAILABLE)
        else:
            check = result if isinstance(result, AccountCheck) else None
            companies = [company_row(company) for company in check.companies] if check else []
            uow.onboardings.set_pending_token(onboarding, connection.secret)
            session.domain = check.environment if check else context.link.environment["domain"]
            session.seen = tuple(Company(id=c.id, number=c.number, name=c.name) for c in companies)
            session.guids = {c.id: c.guid for c in companies if c.guid}
            missing = tuple(check.missing_access) if check else ()
            session.missing = missing or None
            if link_flow.needs_confirmation(session, context.link.environment["domain"]):
                self._await_confirmation(context)
                return
            self._go_on(context)

    def confirm_environment(self, link_id: int, *, manager: str) -> ConfirmedRelink | None:
        """The account manager confirms a relink to another Nmbrs environment, which then goes
        on as any relink (the link is updated when the login still sees linked companies).
        None when no relink of this link waits for it (confirmed, dropped or unlinked since)."""

        def confirm() -> ConfirmedRelink | None:
            with self._unit_of_work() as uow:
                context = self._manager_context(uow, link_id, Actor(manager))
                session = context.session
                if (
                    context.link.revoked_at is not None
                    or not link_flow.may_run(LinkStep.CONFIRM_ENVIRONMENT, session)
                    or link_flow.is_abandoned(session, context.now)
                ):
                    return None
                session.confirmed_domain = session.domain
                publish_link_event(
                    uow,
                    self._notices,
                    self._event(context, LinkEnvironmentConfirmed, **self._logins(context)),
                )
                if context.onboarding.pending_token is None:
                    self._back_to_credentials(context)
                elif link_flow.by_consent(session):
                    self._choose_after_consent(context)
                else:
                    self._go_on(context)
                self._record(context)
                uow.commit()
                return ConfirmedRelink(
                    client_name=context.client.name,
                    invite=self._outcome(context).invite,
                )

        return retry_on_stale(confirm, what=f"link {link_id}")

    def other_login(self, ref: StepRef, actor: Actor) -> Outcome:
        """Instead of waiting for the account manager, the customer enters another login: the
        waiting one's token is erased and the credentials form shown again."""

        def apply(context: LinkContext) -> None:
            context.uow.onboardings.erase_pending_token(context.onboarding)
            self._back_to_credentials(context)

        return self._run(ref.onboarding_id, actor, apply, ref=ref, step=LinkStep.OTHER_LOGIN)

    def _go_on(self, context: LinkContext) -> None:
        """After a check in the link's own environment, or in one the account manager
        confirmed: the permissions, the companies, or the link updated at once."""
        uow, session = context.uow, context.session
        if session.missing:
            link_flow.move(session, Stage.PERMISSIONS)
            return
        visible = {company.id: company for company in session.seen or ()}
        if not visible:
            link_flow.move(session, Stage.NO_COMPANIES)
            return
        guids = session.guids or {}
        kept = tuple(
            Company(
                id=company.id,
                number=company.number,
                name=company.name,
                guid=guids.get(company.id) or row.guid,
            )
            for row in uow.links.companies(context.link.id or 0)
            if (company := visible.get(row.provider_company_ref)) is not None
        )
        if kept:
            session.chosen = kept
            self._finish_relink(context)
        else:
            session.chosen_ids = ()
            link_flow.move(session, Stage.CHOOSE)

    def _logins(self, context: LinkContext) -> dict[str, str]:
        """The link's login and environment, and the relink's new ones."""
        link, session = context.link, context.session
        return {
            "previous_username": link.account_label,
            "previous_environment": link.environment["domain"],
            "username": session.username or "",
            "environment": session.domain or "",
        }

    def _reject(self, context: LinkContext) -> None:
        onboarding, progress = context.onboarding, context.progress
        record = flow.register_failed_attempt(progress.failures, context.now)
        progress.failed_attempts = record.failures
        if record.blocked_until is not None:
            onboarding.blocked_until = record.blocked_until
        link_flow.move(context.session, Stage.CREDENTIALS)
        context.session.wrong = True
        context.uow.audit.record(
            AUDIT_RELINK_REJECTED,
            actor=context.actor.user_id,
            onboarding_id=onboarding.id,
            link_id=context.link.id,
            detail={"blocked": record.blocked_until is not None},
            at=context.now,
        )


class RelinkConsent:
    """The relink's ConsentPurpose (PURPOSE_RELINK) in the consent flow."""

    def __init__(self, links: Relink):
        self._links = links

    def begin(self, ticket: ConsentTicket) -> ConsentProvider | PageAnswer:
        ref = StepRef(ticket.onboarding_id, ticket.step)
        answer = self._links.consent_provider_for(ref, ticket.actor)
        if isinstance(answer, Outcome):
            return page_for(answer, started=False)
        return answer

    def finish(self, consumed: ConsumedConsent, *, code: str | None, error: str | None) -> Finished:
        outcome = self._links.finish_consent(
            StepRef(consumed.onboarding_id, consumed.step),
            Actor(consumed.person_id, consumed.workspace_id),
            code=code,
            error=error,
            code_verifier=consumed.code_verifier,
        )
        return Finished(page_for(outcome), outcome, consumed.view_key, purpose=PURPOSE_RELINK)
