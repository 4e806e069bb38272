"""The invite message in the client's channel as neutral data (`InviteScreen`): the line it
shows, where the customer is and what waits for them, who it is for and from, and which
buttons it has. The transports draw it (bot.transports.slack.views.invite).

Every copy of an invite the bot posted is drawn from the same status: the newest copy shows
the onboarding as it stands, an older copy (`superseded`) only says it was replaced and has no
buttons, so a channel never holds two live invites. Once the onboarding has ended (stopped,
expired, unlinked) every copy says so, without buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core import flow
from bot.core.flow import OPEN_STATES, State
from bot.core.model import InviteStatus

# Why an invite message is not the live one.
SUPERSEDED_RESENT = "resent"  # a newer copy of the same invite was posted below
SUPERSEDED_REPLACED = "replaced"  # a new onboarding replaced this one

# What an onboarding waits for from the customer (InviteStatus.waiting).
WAITING_PERMISSIONS = "permissions"  # API rights to switch on in the login's template
WAITING_CONSENT = "consent"  # data to approve again at Nmbrs
WAITING_COMPANIES = "companies"  # a klant login filter, so the login sees companies

# States whose copies all say how it ended, whichever copy is the newest.
_ENDED_FOR_EVERY_COPY = frozenset({State.CANCELLED, State.EXPIRED, State.UNLINKED})


class InviteAction(StrEnum):
    START = "start"
    CONTINUE = "continue"
    STOP = "stop"
    CHANGE_COMPANIES = "change_companies"
    REMOVE_LINK = "remove_link"
    CHOOSE_AGAIN = "choose_again"  # a package handoff the customer can undo


@dataclass(frozen=True)
class StepIndicator:
    """ "Step `step` of `of`": where on the main line the customer is."""

    step: int
    of: int


def step_indicator(state: State | str) -> StepIndicator | None:
    """The step of `state` on the main line, None for a side end (handoff, stopped, ...)."""
    reached = flow.step_reached(state)
    return None if reached is None else StepIndicator(reached, len(flow.MAIN_LINE))


@dataclass(frozen=True)
class InviteScreen:
    """One copy of the invite: the onboarding's `state`, unless the copy was `superseded`
    (then it says so alone) or the customer has something to do (`waiting`, with
    `waiting_count` things: rights off, data to approve). `manager` and `contact` are chat
    user ids, when known."""

    client_name: str
    language: str
    state: State
    step: StepIndicator | None
    actions: tuple[InviteAction, ...]
    superseded: str | None = None
    waiting: str | None = None
    waiting_count: int = 0
    manager: str | None = None
    contact: str | None = None
    completed_by: str | None = None
    companies_linked: int = 0
    support_phone: str = ""


def invite_screen(status: InviteStatus) -> InviteScreen:
    """The copy of the invite that `status` describes (its `superseded` says whether it is
    the live one)."""
    state = status.state
    superseded = status.superseded
    if state in _ENDED_FOR_EVERY_COPY and superseded != SUPERSEDED_REPLACED:
        superseded = None
    live = superseded is None and state in OPEN_STATES
    actions: tuple[InviteAction, ...] = ()
    if live:
        first = InviteAction.START if state == State.INVITED else InviteAction.CONTINUE
        actions = (first, InviteAction.STOP)
    elif superseded is None and state == State.COMPLETED:
        actions = (InviteAction.CHANGE_COMPANIES, InviteAction.REMOVE_LINK)
    elif superseded is None and status.can_choose_again:
        actions = (InviteAction.CHOOSE_AGAIN,)
    return InviteScreen(
        client_name=status.client_name,
        language=status.language,
        state=state,
        step=step_indicator(state) if live else None,
        actions=actions,
        superseded=superseded,
        waiting=status.waiting if live else None,
        waiting_count=status.waiting_count if live else 0,
        manager=status.started_by if _is_person(status.started_by) else None,
        contact=status.contact_user_id or None,
        completed_by=status.completed_by,
        companies_linked=status.companies_linked,
        support_phone=status.support_phone,
    )


def _is_person(actor: str | None) -> bool:
    """A chat user, as opposed to the bot itself ("system") or the command line ("cli")."""
    return actor not in (None, "", "system", "cli")
