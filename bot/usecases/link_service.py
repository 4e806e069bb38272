"""The customer's use cases on a link, from the client's channel: relink, change the linked
companies, stop an open onboarding, remove the link. Only members of the client's channel may
use them."""

from __future__ import annotations

from bot.core.link_flow import LinkStep, SessionKind
from bot.core.model import Actor, StepRef
from bot.core.screens import Outcome
from bot.usecases.companies import CompanyChange
from bot.usecases.customer_exit import CustomerExit
from bot.usecases.relink import Relink


class LinkService(Relink, CompanyChange, CustomerExit):
    """Blocking; async callers use a worker thread."""

    def check_again(self, ref: StepRef, actor: Actor) -> Outcome:
        """Run the check anew: a relink with the kept token, a company change with the link's."""
        step = LinkStep.CHECK_AGAIN
        early, snapshot = self._snapshot(ref, actor, step)
        if early is not None:
            return early
        if snapshot.by_consent:
            # Checking a consent again is consenting again.
            return self._run(ref.onboarding_id, actor, self._consent_again, ref=ref, step=step)
        if snapshot.kind == SessionKind.RELINK:
            if snapshot.connection is None:
                return self._run(
                    ref.onboarding_id, actor, self._back_to_credentials, ref=ref, step=step
                )
            result = self._check(
                snapshot.connection, snapshot.linked_ids, provider=snapshot.provider
            )
            connection = snapshot.connection
            return self._run(
                ref.onboarding_id,
                actor,
                lambda context: self._apply_relink_check(context, connection, result),
                ref=ref,
                step=step,
            )
        listing = self._list(snapshot)
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: self._apply_listing(context, snapshot, listing),
            ref=ref,
            step=step,
        )
