"""Relinking: the same credential screens as the onboarding; the link is updated in place
when the new username and token work, chosen companies kept where still visible."""

from __future__ import annotations

from bot.core import flow, link_flow
from bot.core.link_flow import LinkStep, SessionKind, Stage
from bot.core.model import Actor, Company, InvalidInput, StepRef, clean_token
from bot.core.payroll import (
    AccountCheck,
    Connection,
    NoAccess,
    NoSubscription,
    ProviderError,
    WrongCredentials,
)
from bot.core.screens import Outcome
from bot.usecases.credentials import company_row
from bot.usecases.link_steps import LinkContext, LinkSteps

AUDIT_RELINK_REJECTED = "link_relink_rejected"


class Relink(LinkSteps):
    def open_relink(self, onboarding_id: int, actor: Actor) -> Outcome:
        """The credentials form, or the relink in progress where it was left."""

        def apply(context: LinkContext) -> None:
            if link_flow.is_open_relink(context.session):
                return
            context.uow.onboardings.erase_pending_token(context.onboarding)
            context.session = link_flow.start(SessionKind.RELINK, Stage.CREDENTIALS, context.now)
            context.session.username = context.link.account_label

        return self._run(onboarding_id, actor, apply)

    def submit_relink(self, ref: StepRef, actor: Actor, *, username: str, token: str) -> Outcome:
        """Check the new username and token; the link is updated in place when they work."""
        username, token = username.strip(), clean_token(token)
        if not username or not token:
            raise InvalidInput("username and token are both required")
        step = LinkStep.SUBMIT_RELINK
        early, snapshot = self._snapshot(ref, actor, step)
        if early is not None:
            return early
        connection = Connection(account=username, secret=token)
        result = self._check(connection, snapshot.linked_ids)
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
            if check and check.missing_access:
                session.missing = tuple(check.missing_access)
                link_flow.move(session, Stage.PERMISSIONS)
                return
            if not companies:
                link_flow.move(session, Stage.NO_COMPANIES)
                return
            visible = {company.id: company for company in companies}
            kept = tuple(
                Company(
                    id=int(row.provider_company_ref),
                    number=visible[int(row.provider_company_ref)].number,
                    name=visible[int(row.provider_company_ref)].name,
                    guid=visible[int(row.provider_company_ref)].guid or row.guid,
                )
                for row in uow.links.companies(context.link.id or 0)
                if int(row.provider_company_ref) in visible
            )
            if kept:
                session.chosen = kept
                self._finish_relink(context)
            else:
                session.chosen_ids = ()
                link_flow.move(session, Stage.CHOOSE)

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
            detail={
                "username": context.session.username or "",
                "blocked": record.blocked_until is not None,
            },
            at=context.now,
        )
