"""The one step runner of every use case on an onboarding or its link.

A step is: load the onboarding (refusing an actor who may not act, which is audited), refuse or
replay a step that does not fit (a double click or a retried request is answered with the
current screen, without a second effect), apply it, record it (idempotency counters and the
typed progress) and commit, all in one transaction. When another transaction committed first
(`StaleUpdate`), the step is re-run from the start and then usually finds itself done.

Provider calls happen before a step, never inside one: `peek` reads what the call needs in a
short transaction of its own, with the same loading and refusing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.core.flow import IllegalTransition
from bot.core.link_flow import IllegalLinkStep
from bot.core.model import Actor
from bot.core.screens import Outcome
from bot.ports import UnitOfWork
from storage.repository import StaleUpdate

logger = logging.getLogger(__name__)

# A StaleUpdate means someone else committed first; re-running finds their result.
MAX_ATTEMPTS_ON_STALE = 3

U = TypeVar("U", bound=UnitOfWork)
C = TypeVar("C")
R = TypeVar("R")

# None when the step may be applied now; else the Outcome to answer with.
Gate = Callable[[C], Outcome | None]


def retry_on_stale(run: Callable[[], R], *, what: str) -> R:
    """Run `run` (one transaction) again when another transaction committed first."""
    for attempt in range(MAX_ATTEMPTS_ON_STALE):
        try:
            return run()
        except StaleUpdate:
            logger.info("%s changed meanwhile; re-running", what)
            if attempt == MAX_ATTEMPTS_ON_STALE - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class StepRunner(Generic[U, C]):
    """How one family of use cases loads, records and answers a step."""

    unit_of_work: Callable[[], U]
    # The context of one step, or the Outcome when not found or refused (the refusal audited).
    load: Callable[[U, int, Actor], C | Outcome]
    # The screen the step leads to (also the answer to a step that does not fit).
    answer: Callable[[C], Outcome]
    # The answer when the core refuses the step's move (IllegalTransition, IllegalLinkStep).
    illegal: Callable[[C], Outcome]
    # What the runner works on, for the log ("onboarding", "link of onboarding").
    subject: str

    def run(
        self,
        onboarding_id: int,
        actor: Actor,
        apply: Callable[[C], None],
        *,
        record: Callable[[C], None],
        gate: Gate[C] | None = None,
    ) -> tuple[C | None, Outcome]:
        """Apply one step in one transaction; the context it ran in (None when refused or
        not found) and its answer. `record` runs before the commit: the idempotency counters,
        the progress written back into the row."""

        def once() -> tuple[C | None, Outcome]:
            with self.unit_of_work() as uow:
                loaded = self.load(uow, onboarding_id, actor)
                if isinstance(loaded, Outcome):
                    return None, loaded
                early = gate(loaded) if gate is not None else None
                if early is not None:
                    return loaded, early
                try:
                    apply(loaded)
                except (IllegalTransition, IllegalLinkStep) as illegal:
                    logger.info("%s %s: %s", self.subject, onboarding_id, illegal)
                    return loaded, self.illegal(loaded)
                record(loaded)
                uow.commit()
                return loaded, self.answer(loaded)

        return retry_on_stale(once, what=f"{self.subject} {onboarding_id}")

    def peek(
        self,
        onboarding_id: int,
        actor: Actor,
        read: Callable[[U, C], R],
        *,
        gate: Gate[C] | None = None,
    ) -> Outcome | R:
        """What a provider call needs, read in a short transaction (nothing is written but an
        audited refusal); or the Outcome to answer with at once."""
        with self.unit_of_work() as uow:
            loaded = self.load(uow, onboarding_id, actor)
            if isinstance(loaded, Outcome):
                return loaded
            early = gate(loaded) if gate is not None else None
            if early is not None:
                return early
            return read(uow, loaded)
