"""Changing the linked companies: the companies the login sees now, the linked ones ticked,
with the over-access check again (the account manager is told of an over-access warning)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.core import flow, link_flow
from bot.core.events import LinkOverAccessWarned
from bot.core.link_flow import REASON_WRONG_CREDENTIALS, LinkStatus, LinkStep, SessionKind, Stage
from bot.core.model import Actor, Company, InvalidInput, StepRef
from bot.core.payroll import ProviderCompany, ProviderError
from bot.core.screens import Outcome
from bot.usecases.company_search import MIN_QUERY_LENGTH, search_companies
from bot.usecases.credentials import company_row
from bot.usecases.link_notices import names, publish_link_event
from bot.usecases.link_problems import mark_needs_relink, problem_from_error
from bot.usecases.link_steps import LinkContext, LinkSteps, Snapshot

logger = logging.getLogger(__name__)


class CompanyChange(LinkSteps):
    def open_companies(self, onboarding_id: int, actor: Actor) -> Outcome:
        """The companies the login sees now, the linked ones ticked."""
        early, snapshot = self._snapshot(
            None, actor, None, onboarding_id=onboarding_id, kind=SessionKind.COMPANIES
        )
        if early is not None:
            return early
        if snapshot.status != LinkStatus.ACTIVE:
            return self._run(onboarding_id, actor, self._relink_first)
        listing = self._list(snapshot)
        return self._run(
            onboarding_id,
            actor,
            lambda context: self._apply_listing(context, snapshot, listing, fresh=True),
        )

    def choose_companies(self, ref: StepRef, actor: Actor, company_ids: Iterable[str]) -> Outcome:
        """Keep the choice; apply it at once unless the login sees more than was chosen, which
        first asks for the over-access confirmation (and tells the account manager)."""
        chosen_ids = list(dict.fromkeys(str(company_id) for company_id in company_ids))
        if not chosen_ids:
            raise InvalidInput("choose at least one company")
        step = LinkStep.CHOOSE_COMPANIES
        early, snapshot = self._snapshot(ref, actor, step)
        if early is not None:
            return early
        if not set(chosen_ids) <= {row.id for row in snapshot.seen}:
            raise InvalidInput("a chosen company is not visible to this login")
        if snapshot.connection is None:
            return self._run(
                ref.onboarding_id, actor, self._back_to_credentials, ref=ref, step=step
            )
        seen_rows = {row.id: row for row in snapshot.seen}
        chosen_companies = [
            ProviderCompany(
                ref=str(i),
                number=seen_rows[i].number,
                name=seen_rows[i].name,
                guid=snapshot.known_guids.get(i),
            )
            for i in chosen_ids
        ]
        try:
            # A relink by consent chose REST companies, whose GUID is their companyId.
            to_link = (
                chosen_companies
                if snapshot.by_consent
                else self._provider(snapshot.provider).companies_to_link(
                    snapshot.connection, chosen_companies
                )
            )
        except ProviderError as error:
            logger.info("looking up company GUIDs failed: %s", error.code)

            def unavailable(context: LinkContext) -> None:
                link_flow.move(context.session, Stage.UNAVAILABLE)
                context.session.chosen_ids = tuple(chosen_ids)

            return self._run(ref.onboarding_id, actor, unavailable, ref=ref, step=step)
        guids = {company_row(company).id: company.guid for company in to_link}

        def apply(context: LinkContext) -> None:
            session = context.session
            seen = {row.id: row for row in session.seen or ()}
            chosen = tuple(
                Company(id=i, number=seen[i].number, name=seen[i].name, guid=guids.get(i))
                for i in chosen_ids
            )
            session.chosen_ids = tuple(chosen_ids)
            session.chosen = chosen
            found = flow.over_access(list(seen), chosen_ids)
            if found is None:
                self._apply_choice(context)
                return
            link_flow.move(session, Stage.OVER_ACCESS)
            publish_link_event(
                context.uow,
                self._notices,
                self._event(
                    context,
                    LinkOverAccessWarned,
                    companies_seen=found.seen,
                    companies=names(chosen),
                ),
            )

        return self._run(ref.onboarding_id, actor, apply, ref=ref, step=step)

    def confirm_companies(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer understands the login sees more than was chosen, and links anyway."""
        step = LinkStep.CONFIRM_COMPANIES
        return self._run(ref.onboarding_id, actor, self._apply_choice, ref=ref, step=step)

    def back_to_choice(self, ref: StepRef, actor: Actor) -> Outcome:
        """Back from the over-access screen to the choice (after narrowing the filter)."""
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: link_flow.move(context.session, Stage.CHOOSE),
            ref=ref,
            step=LinkStep.BACK_TO_CHOICE,
        )

    def suggest_companies(self, onboarding_id: int, actor: Actor, query: str) -> list[Company]:
        """Type-ahead over the companies of the session (at least MIN_QUERY_LENGTH characters)."""
        with self._unit_of_work() as uow:
            loaded = self._load(uow, onboarding_id, actor, audit_refusal=False)
            if isinstance(loaded, Outcome):
                return []
            rows = loaded.session.seen or ()
        return search_companies(rows, query) if len(query.strip()) >= MIN_QUERY_LENGTH else []

    def _apply_listing(
        self,
        context: LinkContext,
        snapshot: Snapshot,
        listing: list[ProviderCompany] | ProviderError,
        *,
        fresh: bool = False,
    ) -> None:
        if fresh:
            context.session = link_flow.start(SessionKind.COMPANIES, Stage.CHOOSE, context.now)
        session = context.session
        if isinstance(listing, ProviderError):
            problem = problem_from_error(listing)
            if problem is None:
                link_flow.move(session, Stage.UNAVAILABLE)
                return
            mark_needs_relink(
                context.uow,
                self._notices,
                context.link,
                problem,
                checked_token=snapshot.link_token,
                actor=context.actor.user_id,
                now=context.now,
            )
            link_flow.move(session, Stage.RELINK_FIRST)
            session.reason = problem.reason
            return
        linked = {row.id for row in snapshot.linked}
        if not fresh:
            link_flow.move(session, Stage.CHOOSE)
        rows = [company_row(company) for company in listing]
        session.seen = tuple(Company(id=c.id, number=c.number, name=c.name) for c in rows)
        session.guids = {row.id: row.guid for row in snapshot.linked if row.guid}
        if fresh or session.chosen_ids is None:
            session.chosen_ids = tuple(c.id for c in rows if c.id in linked)

    def _relink_first(self, context: LinkContext) -> None:
        reason = (context.link.problem or {}).get("reason", REASON_WRONG_CREDENTIALS)
        context.session = link_flow.start(SessionKind.COMPANIES, Stage.RELINK_FIRST, context.now)
        context.session.reason = reason
