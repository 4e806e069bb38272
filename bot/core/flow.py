"""The onboarding state machine: which trigger leads where, which step may run from which
state, and the guards that choose the trigger (package, provider answer, over-access, too many
wrong tokens).

No chat tool, no storage, no clock: callers pass the moment in. The onboarding use cases
(`bot.usecases.onboarding`) apply one transition per step, sometimes two in the same
transaction (choosing companies without over-access goes on to completion).

    invited ─accept_terms─▶ terms_accepted ─verify_credentials─▶ credentials_verified
       │                          │  ◀──────reset_credentials───────│  ▲ (check again)
     ▲ └─hand_off─▶ handoff ◀─────┴─────────────hand_off────────────┤  │
     └─choose_again─┘                                                │  │
                                                  choose_companies ─▼  │ reconsider
                                                           companies_chosen
                                                                    │ complete
                                                                completed ─unlink─▶ unlinked

A handoff for the package chosen (another package, or none listed) can go back to the choice
(`choose_again`, guarded by `may_choose_again`): a mis-click in the list is not the end.
Every state before `completed` can also be cancelled or expire. Too many wrong tokens is a timed
block on credential attempts (see `register_failed_attempt`), not a state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    INVITED = "invited"
    TERMS_ACCEPTED = "terms_accepted"
    CREDENTIALS_VERIFIED = "credentials_verified"
    COMPANIES_CHOSEN = "companies_chosen"
    COMPLETED = "completed"
    HANDOFF = "handoff"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNLINKED = "unlinked"


class Event(StrEnum):
    ACCEPT_TERMS = "accept_terms"
    HAND_OFF = "hand_off"
    VERIFY_CREDENTIALS = "verify_credentials"
    RESET_CREDENTIALS = "reset_credentials"
    CHOOSE_COMPANIES = "choose_companies"
    RECONSIDER = "reconsider"
    COMPLETE = "complete"
    CANCEL = "cancel"
    EXPIRE = "expire"
    UNLINK = "unlink"
    CHOOSE_AGAIN = "choose_again"


# The steps the customer walks through, in order; the position of a state on this line is the
# "step reached" shown in the channel message.
MAIN_LINE: tuple[State, ...] = (
    State.INVITED,
    State.TERMS_ACCEPTED,
    State.CREDENTIALS_VERIFIED,
    State.COMPANIES_CHOSEN,
    State.COMPLETED,
)
OPEN_STATES: frozenset[State] = frozenset(MAIN_LINE[:-1])
END_STATES: frozenset[State] = frozenset(
    {State.COMPLETED, State.HANDOFF, State.CANCELLED, State.EXPIRED, State.UNLINKED}
)

TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.INVITED, Event.ACCEPT_TERMS): State.TERMS_ACCEPTED,
    (State.INVITED, Event.HAND_OFF): State.HANDOFF,
    (State.TERMS_ACCEPTED, Event.VERIFY_CREDENTIALS): State.CREDENTIALS_VERIFIED,
    (State.TERMS_ACCEPTED, Event.HAND_OFF): State.HANDOFF,
    # "Check again" after fixing permissions or the klant login filter.
    (State.CREDENTIALS_VERIFIED, Event.VERIFY_CREDENTIALS): State.CREDENTIALS_VERIFIED,
    (State.CREDENTIALS_VERIFIED, Event.HAND_OFF): State.HANDOFF,
    # A check again finds the kept token no longer works: ask for credentials anew.
    (State.CREDENTIALS_VERIFIED, Event.RESET_CREDENTIALS): State.TERMS_ACCEPTED,
    (State.CREDENTIALS_VERIFIED, Event.CHOOSE_COMPANIES): State.COMPANIES_CHOSEN,
    # Back from the over-access screen to narrow the klant login filter.
    (State.COMPANIES_CHOSEN, Event.RECONSIDER): State.CREDENTIALS_VERIFIED,
    (State.COMPANIES_CHOSEN, Event.COMPLETE): State.COMPLETED,
    (State.COMPLETED, Event.UNLINK): State.UNLINKED,
    # Back to the terms and the package choice after a handoff for the package chosen.
    (State.HANDOFF, Event.CHOOSE_AGAIN): State.INVITED,
    **{(state, Event.CANCEL): State.CANCELLED for state in OPEN_STATES},
    **{(state, Event.EXPIRE): State.EXPIRED for state in OPEN_STATES},
}


class IllegalTransition(Exception):
    """An event the current state does not allow; nothing was changed."""

    def __init__(self, state: State, event: Event):
        self.state = state
        self.event = event
        super().__init__(f"cannot {event.value} an onboarding that is {state.value}")


def next_state(state: State | str, trigger: Event) -> State:
    """The state after `trigger`, or IllegalTransition."""
    current = State(state)
    try:
        return TRANSITIONS[(current, trigger)]
    except KeyError:
        raise IllegalTransition(current, trigger) from None


def allows(state: State | str, trigger: Event) -> bool:
    return (State(state), trigger) in TRANSITIONS


def step_reached(state: State | str) -> int | None:
    """1-based position on the main line (invited is step 1), None for a side end."""
    current = State(state)
    return MAIN_LINE.index(current) + 1 if current in MAIN_LINE else None


# --- which step may run from which state ----------------------------------------------------


class Step(StrEnum):
    """The steps a customer's view can submit (also the name in the idempotency record)."""

    TERMS = "terms"
    PREPARATION = "preparation"
    CREDENTIALS = "credentials"
    CHECK_AGAIN = "check_again"
    COMPANIES = "companies"
    CONFIRM_OVER_ACCESS = "confirm_over_access"
    NARROW_FILTER = "narrow_filter"
    CHOOSE_AGAIN = "choose_again"


STEPS: dict[Step, frozenset[State]] = {
    Step.TERMS: frozenset({State.INVITED}),
    Step.PREPARATION: frozenset({State.TERMS_ACCEPTED}),
    Step.CREDENTIALS: frozenset({State.TERMS_ACCEPTED}),
    # After Nmbrs failed (token kept unverified) or after fixing permissions or the filter.
    Step.CHECK_AGAIN: frozenset({State.TERMS_ACCEPTED, State.CREDENTIALS_VERIFIED}),
    Step.COMPANIES: frozenset({State.CREDENTIALS_VERIFIED}),
    Step.CONFIRM_OVER_ACCESS: frozenset({State.COMPANIES_CHOSEN}),
    Step.NARROW_FILTER: frozenset({State.COMPANIES_CHOSEN}),
    Step.CHOOSE_AGAIN: frozenset({State.HANDOFF}),
}


def may_run(step: Step, state: State | str) -> bool:
    return State(state) in STEPS[step]


# --- guards: which trigger a step's input leads to ------------------------------------------

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

# Why an onboarding went to a person.
HANDOFF_NOT_LISTED = "package_not_listed"
HANDOFF_OTHER_PACKAGE = "other_package"
HANDOFF_NO_SUBSCRIPTION = "no_subscription"


def handoff_for_package(package: str) -> str | None:
    """None for Nmbrs (the flow goes on); else why a person takes over."""
    if package == NMBRS:
        return None
    return HANDOFF_NOT_LISTED if package == NOT_LISTED else HANDOFF_OTHER_PACKAGE


# The handoffs the customer can undo by choosing another package: the choice caused them.
PACKAGE_HANDOFFS = frozenset({HANDOFF_NOT_LISTED, HANDOFF_OTHER_PACKAGE})


def may_choose_again(
    state: State | str, handoff_reason: str | None, *, data_erased: bool, channel_taken: bool
) -> bool:
    """Whether a handoff can go back to the package choice: only one the package choice caused
    (not Nmbrs refusing the subscription), while its data is kept and no other onboarding has
    started in the client's channel since."""
    return (
        allows(state, Event.CHOOSE_AGAIN)
        and handoff_reason in PACKAGE_HANDOFFS
        and not data_erased
        and not channel_taken
    )


class CheckAnswer(StrEnum):
    """What the payroll provider said to a credential check."""

    VERIFIED = "verified"
    NO_ACCESS = "no_access"  # a valid login that sees nothing at all
    WRONG_CREDENTIALS = "wrong_credentials"
    NO_SUBSCRIPTION = "no_subscription"
    UNAVAILABLE = "unavailable"  # the provider failed; the customer can retry


def event_after_check(state: State | str, answer: CheckAnswer) -> Event | None:
    """The transition a check's answer causes (None: the state stays, the screen says why)."""
    current = State(state)
    if answer is CheckAnswer.NO_SUBSCRIPTION:
        return Event.HAND_OFF
    if answer is CheckAnswer.WRONG_CREDENTIALS:
        return Event.RESET_CREDENTIALS if current == State.CREDENTIALS_VERIFIED else None
    if answer is CheckAnswer.UNAVAILABLE:
        return None
    return Event.VERIFY_CREDENTIALS


# --- brute-force guard --------------------------------------------------------------------

MAX_FAILED_ATTEMPTS = 5
FAILED_ATTEMPT_WINDOW = timedelta(hours=1)
BLOCK_DURATION = timedelta(hours=1)


@dataclass(frozen=True)
class AttemptRecord:
    """Wrong-token attempts within the window, and the block they caused (if any)."""

    failures: tuple[datetime, ...]
    blocked_until: datetime | None

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_FAILED_ATTEMPTS - len(self.failures))


def is_blocked(blocked_until: datetime | None, now: datetime) -> bool:
    return blocked_until is not None and now < blocked_until


def register_failed_attempt(failures: Iterable[datetime], now: datetime) -> AttemptRecord:
    """Add a wrong-token attempt. The fifth within an hour blocks attempts for an hour."""
    recent = tuple(moment for moment in failures if now - moment < FAILED_ATTEMPT_WINDOW)
    recent = (*recent, now)
    if len(recent) >= MAX_FAILED_ATTEMPTS:
        return AttemptRecord(failures=(), blocked_until=now + BLOCK_DURATION)
    return AttemptRecord(failures=recent, blocked_until=None)


# --- over-access (AVG) --------------------------------------------------------------------


@dataclass(frozen=True)
class OverAccess:
    """The login sees companies the customer did not choose."""

    seen: int
    chosen: int
    not_chosen_ids: tuple[str, ...]


def over_access(seen_ids: Sequence[str], chosen_ids: Iterable[str]) -> OverAccess | None:
    """None when the customer chose every company the login can see."""
    chosen = set(chosen_ids)
    not_chosen = tuple(company_id for company_id in seen_ids if company_id not in chosen)
    if not not_chosen:
        return None
    return OverAccess(seen=len(seen_ids), chosen=len(chosen), not_chosen_ids=not_chosen)


def event_after_choice(found: OverAccess | None) -> Event | None:
    """Completion at once when the login sees only what was chosen; else the confirmation."""
    return Event.COMPLETE if found is None else None
