"""The link after the onboarding: its status, and the stages of a relink or a change of
companies, each as a table.

Link status:

    active ─mark─▶ needs_relink ─recover (it works again) / relink─▶ active
       └──────────────┴─unlink─▶ unlinked

A relink or company change is a session kept with the onboarding (`LinkSession`); every step of
it may run from some stages only (`LINK_STEPS`), and every move goes to a stage the table allows
from the current one (`STAGE_MOVES`). Anything else raises `IllegalLinkStep`.

A relink by consent (the Nmbrs REST API; `start_by_consent`) starts at CONSENT instead of
CREDENTIALS: the customer logs in at Nmbrs and approves, the callback checks the consent
(`LinkStep.CONSENT_GIVEN`) and the session goes on at CHOOSE (the link's companies matched and
ticked), PERMISSIONS, NO_COMPANIES or UNAVAILABLE; checking again from there is consenting
again (back to CONSENT). Finishing it moves the link to the REST API.

A relink whose new login belongs to another Nmbrs environment than the link's stops at
CONFIRM_ENVIRONMENT, changing nothing, until an account manager confirms the switch
(`needs_confirmation`; `LinkStep.CONFIRM_ENVIRONMENT`); then it goes on as any relink. Until
then the customer may enter another login instead (`LinkStep.OTHER_LOGIN`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.payroll import NMBRS_REST
from bot.core.progress import LinkSession, SessionKind

__all__ = ["LinkSession", "SessionKind"]


class LinkStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_RELINK = "needs_relink"
    UNLINKED = "unlinked"


class LinkMove(StrEnum):
    MARK = "mark"  # a verification found the link broken
    REMARK = "remark"  # found broken again: its problem is brought up to date
    RECOVER = "recover"  # it works again by itself (permissions switched back on)
    RELINK = "relink"  # the customer entered working credentials
    UNLINK = "unlink"


STATUS_MOVES: dict[tuple[LinkStatus, LinkMove], LinkStatus] = {
    (LinkStatus.ACTIVE, LinkMove.MARK): LinkStatus.NEEDS_RELINK,
    (LinkStatus.NEEDS_RELINK, LinkMove.REMARK): LinkStatus.NEEDS_RELINK,
    (LinkStatus.NEEDS_RELINK, LinkMove.RECOVER): LinkStatus.ACTIVE,
    (LinkStatus.ACTIVE, LinkMove.RELINK): LinkStatus.ACTIVE,
    (LinkStatus.NEEDS_RELINK, LinkMove.RELINK): LinkStatus.ACTIVE,
    (LinkStatus.ACTIVE, LinkMove.UNLINK): LinkStatus.UNLINKED,
    (LinkStatus.NEEDS_RELINK, LinkMove.UNLINK): LinkStatus.UNLINKED,
}


class IllegalLinkMove(Exception):
    """A status move the link's status does not allow; nothing was changed."""

    def __init__(self, status: LinkStatus, move: LinkMove):
        self.status = status
        self.move = move
        super().__init__(f"cannot {move.value} a link that is {status.value}")


def next_status(status: LinkStatus | str, move: LinkMove) -> LinkStatus:
    current = LinkStatus(status)
    try:
        return STATUS_MOVES[(current, move)]
    except KeyError:
        raise IllegalLinkMove(current, move) from None


# Why a link needs relinking.
REASON_WRONG_CREDENTIALS = "wrong_credentials"
REASON_PERMISSIONS_MISSING = "permissions_missing"
REASON_COMPANIES_GONE = "companies_gone"
REASON_NO_SUBSCRIPTION = "no_subscription"
REASON_NO_ACCESS = "no_access"
REASON_INVALID_DOMAIN = "invalid_domain"
# The Nmbrs SOAP API has ended (NMBRS_SOAP_END_DATE): a SOAP link moves to the REST API by a
# relink, which is the customer's consent.
REASON_SOAP_ENDED = "soap_ended"


class Stage(StrEnum):
    CREDENTIALS = "credentials"
    CONSENT = "consent"  # a relink by consent: log in at Nmbrs and approve (the REST API)
    UNAVAILABLE = "unavailable"
    PERMISSIONS = "permissions"
    NO_COMPANIES = "no_companies"
    CHOOSE = "choose"
    OVER_ACCESS = "over_access"
    HANDOFF = "handoff"
    RELINK_FIRST = "relink_first"
    CONFIRM_ENVIRONMENT = "confirm_environment"  # another environment: a manager must confirm
    DONE = "done"


class LinkStep(StrEnum):
    SUBMIT_RELINK = "submit_relink"
    CHECK_AGAIN = "check_again"
    CHOOSE_COMPANIES = "choose_companies"
    CONFIRM_COMPANIES = "confirm_companies"
    BACK_TO_CHOICE = "back_to_choice"
    CONFIRM_ENVIRONMENT = "confirm_environment"  # the account manager's, not the customer's
    OTHER_LOGIN = "other_login"  # the customer drops the waiting login to enter another
    CONSENT_GIVEN = "consent_given"  # the consent's callback, checked (or failed)


RELINK, COMPANIES = SessionKind.RELINK, SessionKind.COMPANIES

# Which stages of which kind of session a submitted step may run from.
LINK_STEPS: dict[LinkStep, dict[SessionKind, frozenset[Stage]]] = {
    LinkStep.SUBMIT_RELINK: {RELINK: frozenset({Stage.CREDENTIALS})},
    LinkStep.CONSENT_GIVEN: {RELINK: frozenset({Stage.CONSENT})},
    LinkStep.CHECK_AGAIN: {
        RELINK: frozenset({Stage.UNAVAILABLE, Stage.PERMISSIONS, Stage.NO_COMPANIES, Stage.CHOOSE}),
        COMPANIES: frozenset({Stage.UNAVAILABLE, Stage.CHOOSE}),
    },
    LinkStep.CHOOSE_COMPANIES: {
        RELINK: frozenset({Stage.CHOOSE}),
        COMPANIES: frozenset({Stage.CHOOSE}),
    },
    LinkStep.CONFIRM_COMPANIES: {
        RELINK: frozenset({Stage.OVER_ACCESS}),
        COMPANIES: frozenset({Stage.OVER_ACCESS}),
    },
    LinkStep.BACK_TO_CHOICE: {
        RELINK: frozenset({Stage.OVER_ACCESS}),
        COMPANIES: frozenset({Stage.OVER_ACCESS}),
    },
    LinkStep.CONFIRM_ENVIRONMENT: {RELINK: frozenset({Stage.CONFIRM_ENVIRONMENT})},
    LinkStep.OTHER_LOGIN: {RELINK: frozenset({Stage.CONFIRM_ENVIRONMENT})},
}

# Where a relink's credential check leads; CREDENTIALS also when the kept token is gone.
_RELINK_CHECKED = frozenset(
    {
        Stage.CREDENTIALS,
        Stage.CONSENT,
        Stage.HANDOFF,
        Stage.UNAVAILABLE,
        Stage.PERMISSIONS,
        Stage.NO_COMPANIES,
        Stage.CHOOSE,
        Stage.CONFIRM_ENVIRONMENT,
        Stage.DONE,
    }
)
# Where a confirmed change of environment leads: on as after a check in the link's own one.
_ENVIRONMENT_CONFIRMED = _RELINK_CHECKED - {Stage.CONFIRM_ENVIRONMENT, Stage.HANDOFF}
# Where listing a link's companies leads.
_COMPANIES_LISTED = frozenset({Stage.CHOOSE, Stage.UNAVAILABLE, Stage.RELINK_FIRST})
_CHOSEN = frozenset({Stage.OVER_ACCESS, Stage.DONE, Stage.UNAVAILABLE, Stage.CREDENTIALS})

STAGE_MOVES: dict[SessionKind, dict[Stage, frozenset[Stage]]] = {
    RELINK: {
        Stage.CREDENTIALS: _RELINK_CHECKED,
        Stage.CONSENT: _RELINK_CHECKED,
        Stage.UNAVAILABLE: _RELINK_CHECKED,
        Stage.PERMISSIONS: _RELINK_CHECKED,
        Stage.NO_COMPANIES: _RELINK_CHECKED,
        Stage.CHOOSE: _RELINK_CHECKED | _CHOSEN | {Stage.CONSENT},
        Stage.OVER_ACCESS: frozenset({Stage.DONE, Stage.CHOOSE, Stage.CREDENTIALS, Stage.CONSENT}),
        Stage.CONFIRM_ENVIRONMENT: _ENVIRONMENT_CONFIRMED,
    },
    COMPANIES: {
        Stage.UNAVAILABLE: _COMPANIES_LISTED,
        Stage.CHOOSE: _COMPANIES_LISTED | _CHOSEN,
        Stage.OVER_ACCESS: frozenset({Stage.DONE, Stage.CHOOSE}),
    },
}


class IllegalLinkStep(Exception):
    """A step or stage move the session's stage does not allow; nothing was changed."""

    def __init__(self, kind: str | None, stage: str | None, what: str):
        self.kind = kind
        self.stage = stage
        super().__init__(f"cannot {what} in a {kind or 'missing'} session at {stage or 'no'} stage")


def may_run(step: LinkStep, session: LinkSession) -> bool:
    if session.kind is None or session.stage is None:
        return False
    stages = LINK_STEPS[step].get(SessionKind(session.kind), frozenset())
    return session.stage in stages


def move(session: LinkSession, stage: Stage) -> None:
    """Put the session at `stage`, or IllegalLinkStep when the table does not allow it."""
    if session.kind is None or session.stage is None:
        raise IllegalLinkStep(session.kind, session.stage, f"move to {stage.value}")
    allowed = STAGE_MOVES[SessionKind(session.kind)].get(Stage(session.stage), frozenset())
    if stage not in allowed:
        raise IllegalLinkStep(session.kind, session.stage, f"move to {stage.value}")
    session.stage = stage.value


def by_consent(session: LinkSession | None) -> bool:
    """A relink by consent: the link moves to (or stays on) the REST API, whatever provider
    it had."""
    return session is not None and session.provider == NMBRS_REST


def start_by_consent(now: datetime) -> LinkSession:
    """A relink by consent, at the consent screen."""
    session = start(SessionKind.RELINK, Stage.CONSENT, now)
    session.provider = NMBRS_REST
    return session


def needs_confirmation(
    session: LinkSession, link_environment: str, *, debtors: bool = False
) -> bool:
    """A relink's checked login is of another environment than the link's (and no account
    manager has confirmed that one for this relink). With `debtors`, environments are
    comma-separated debtor ids (the REST API's), the same in any order."""
    same = _same_debtors if debtors else _same_domain
    checked = session.domain or ""
    return not same(checked, link_environment) and not same(checked, session.confirmed_domain or "")


def _same_domain(one: str, other: str) -> bool:
    return one.casefold() == other.casefold()


def _same_debtors(one: str, other: str) -> bool:
    def ids(text: str) -> set[str]:
        return {part.strip().casefold() for part in text.split(",") if part.strip()}

    return ids(one) == ids(other)


def start(kind: SessionKind, stage: Stage, now: datetime) -> LinkSession:
    """A new session; it replaces whatever session was there."""
    return LinkSession(kind=kind.value, stage=stage.value, started_at=now)


def is_open_relink(session: LinkSession | None) -> bool:
    """A relink in progress, which opening the relink again continues."""
    return (
        session is not None and session.kind == SessionKind.RELINK and session.stage != Stage.DONE
    )


# Sessions that hold a verified token or a company list; abandoned, they are dropped.
SESSION_LIFETIME = timedelta(hours=24)


def is_abandoned(session: LinkSession, now: datetime) -> bool:
    if session.stage == Stage.DONE:
        return False
    started = session.started_at
    return started is None or started + SESSION_LIFETIME <= now
