"""What to show next, as neutral data (the transports render it: bot.transports.slack.views).

`screen_for` and `link_screen` derive the screen from what is stored alone, so resuming after a
closed modal or a restart shows the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.core import flow, link_flow
from bot.core.flow import State
from bot.core.invite import StepIndicator
from bot.core.link_flow import Stage
from bot.core.matching import CompanyMatch
from bot.core.model import Company, InviteStatus, StepRef
from bot.core.progress import CheckOutcome, LinkSession, OnboardingProgress


@dataclass(frozen=True)
class TermsScreen:
    terms_url: str
    package: str | None = None
    terms_ticked: bool = False


@dataclass(frozen=True)
class PreparationScreen:
    """How to prepare Nmbrs, in business words: `data` is what the link reads (data keys the
    catalogues word), `permissions` the exact settings behind it for whoever configures Nmbrs
    ({service: [operation, ...]}, or {scope: [data key, ...]} when `consent`). `again` when
    shown once more from a later screen: then it only informs (no step to submit)."""

    permissions: dict[str, list[str]]
    # The provider connects by consent: `permissions` is {scope: [data key, ...]}.
    consent: bool = False
    data: tuple[str, ...] = ()
    again: bool = False
    # The Nmbrs login, where the preparation is done.
    login_url: str = ""


class Instructions(StrEnum):
    """The parts of the preparation a person can open (again) from the modal."""

    PREPARATION = "preparation"
    # The exact names (SOAP permissions, REST scopes) for whoever configures Nmbrs.
    EXACT_SETTINGS = "exact_settings"
    # For someone who is not the Nmbrs administrator: what to send a colleague or accountant.
    FORWARD = "forward"


@dataclass(frozen=True)
class ExactSettingsScreen:
    """The exact access a link needs, as Nmbrs names it in its user template (SOAP) or consent
    (REST): `permissions` as in PreparationScreen."""

    permissions: dict[str, list[str]]
    consent: bool = False


@dataclass(frozen=True)
class ForwardScreen:
    """The step handed on to a colleague or the accountant who administers Nmbrs: a message to
    send them (what to prepare, in business words, and where the invite is), and how to invite
    them into the client's conversation so they can carry on there themselves."""

    client_name: str
    conversation_id: str
    workspace_id: str
    consent: bool = False


@dataclass(frozen=True)
class CredentialsScreen:
    username: str | None = None
    wrong_credentials: bool = False
    attempts_left: int = flow.MAX_FAILED_ATTEMPTS


# Why the last consent did not connect (ConsentScreen.error).
CONSENT_REFUSED = "refused"
CONSENT_EXCHANGE_FAILED = "exchange_failed"
CONSENT_UNAVAILABLE = "unavailable"
CONSENT_THROTTLED = "throttled"
CONSENT_QUOTA = "quota"
# The login sees no data at all (its user template or its klant login filter).
CONSENT_NO_ACCESS = "no_access"
# Nmbrs no longer honours the kept grant (refreshed before a check again): approve again.
CONSENT_GRANT_REFUSED = "grant_refused"
CONSENT_ERRORS = (
    CONSENT_REFUSED,
    CONSENT_EXCHANGE_FAILED,
    CONSENT_UNAVAILABLE,
    CONSENT_THROTTLED,
    CONSENT_QUOTA,
    CONSENT_NO_ACCESS,
    CONSENT_GRANT_REFUSED,
)


@dataclass(frozen=True)
class Approval:
    """Who approved a consent in Nmbrs and for which debtors ("number name")."""

    approved_by: str
    debtors: tuple[str, ...]


@dataclass(frozen=True)
class ConsentScreen:
    """Log in at Nmbrs and approve what the link reads (the REST API's consent): `data` is the
    access required, {scope: [data key, ...]}. `start_url` and `view_key` are filled by the use
    case (they are not derived from what is stored): the link that starts the consent, and the
    key the open window is known by, so the callback can redraw it."""

    data: dict[str, list[str]]
    error: str | None = None
    start_url: str = ""
    view_key: str = ""


@dataclass(frozen=True)
class BlockedScreen:
    # In the customer's local time (ScreenSettings.timezone), as the App Home shows it.
    until: datetime


@dataclass(frozen=True)
class UnavailableScreen:
    """Nmbrs could not be reached or failed; the customer can retry."""


@dataclass(frozen=True)
class PermissionsScreen:
    missing: dict[str, list[str]]
    # Missing from a consent: `missing` is {scope: [data key, ...]}, approved anew at Nmbrs.
    consent: bool = False
    # A check again found the same (local time of when it ran), so the customer sees it ran.
    unchanged_at: datetime | None = None


@dataclass(frozen=True)
class NoCompaniesScreen:
    username: str
    # Set when the login consented through the REST API (its filter is the klant login's).
    approval: Approval | None = None
    # As PermissionsScreen.unchanged_at.
    unchanged_at: datetime | None = None


@dataclass(frozen=True)
class CompanyChoiceScreen:
    companies: tuple[Company, ...]
    preselected: tuple[Company, ...] = ()
    narrowing: bool = False
    # Who approved the consent, so a forwarded link cannot quietly connect another account.
    approval: Approval | None = None
    # A relink by consent: how each of the link's companies matched a REST company (or not).
    matches: tuple[CompanyMatch, ...] = ()
    # Companies the login sees that another client's link holds already (filled by the use
    # case from the links, not derived from what the onboarding stores).
    already_linked: tuple[Company, ...] = ()


@dataclass(frozen=True)
class OverAccessScreen:
    seen: int
    chosen: tuple[Company, ...]
    not_chosen: tuple[Company, ...]


@dataclass(frozen=True)
class CompletedScreen:
    companies: tuple[Company, ...]
    domain: str
    approval: Approval | None = None
    # How many of them another client has linked too: the account manager was told.
    already_linked: int = 0


@dataclass(frozen=True)
class HandoffScreen:
    reason: str  # "package_not_listed", "other_package" or "no_subscription"
    support_phone: str
    # The customer can go back to the terms and the package choice (bot.core.flow
    # `may_choose_again`): the handoff came from the package chosen.
    can_choose_again: bool = False


@dataclass(frozen=True)
class EndedScreen:
    state: State


@dataclass(frozen=True)
class RefusedScreen:
    """The actor may not act on this onboarding: not in the client's channel, or (when
    `other_organisation`) not of the client's own organisation."""

    other_organisation: bool = False


@dataclass(frozen=True)
class ErrorScreen:
    reason: str  # "not_found", "illegal_step", "invalid_choice" or "try_again"


@dataclass(frozen=True)
class RelinkFirstScreen:
    """The link does not work: it must be relinked before companies can change."""

    reason: str


@dataclass(frozen=True)
class EnvironmentConfirmationScreen:
    """The relink's new login is of another Nmbrs environment than the link's: nothing changes
    until the account manager confirms."""

    link_domain: str
    new_domain: str


@dataclass(frozen=True)
class StaleScreen:
    """The window belongs to a relink or change that is over or was dropped."""


Screen = (
    TermsScreen
    | PreparationScreen
    | ExactSettingsScreen
    | ForwardScreen
    | CredentialsScreen
    | ConsentScreen
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
    | RelinkFirstScreen
    | EnvironmentConfirmationScreen
    | StaleScreen
)

NOTICE_ALREADY_DONE = "already_done"


@dataclass(frozen=True)
class SupportContact:
    """How a customer reaches a person: the account manager (a chat id, empty when unknown),
    and our support phone and e-mail (empty when not configured)."""

    account_manager: str = ""
    phone: str = ""
    email: str = ""


# The screens where something is wrong or stuck: each says how to reach a person.
_CONTACT_SCREENS = (
    BlockedScreen,
    UnavailableScreen,
    PermissionsScreen,
    NoCompaniesScreen,
    RefusedScreen,
    ErrorScreen,
)


def shows_contact(screen: Screen) -> bool:
    """Whether `screen` tells how to reach a person (a consent that failed does too)."""
    if isinstance(screen, ConsentScreen):
        return screen.error is not None
    return isinstance(screen, _CONTACT_SCREENS)


# The states whose screens come after the preparation: from each, the instructions can be
# opened again.
_AFTER_PREPARATION = (State.TERMS_ACCEPTED, State.CREDENTIALS_VERIFIED, State.COMPANIES_CHOSEN)


def offers_instructions(state: State | str, progress: OnboardingProgress) -> bool:
    """Whether the screen of this step offers the preparation's instructions again."""
    current = State(state)
    if current == State.TERMS_ACCEPTED:
        return progress.prepared
    return current in _AFTER_PREPARATION


@dataclass(frozen=True)
class Outcome:
    """What a step answers: the screen to show next, and what else changed."""

    screen: Screen
    language: str
    client_name: str = ""
    # None when the actor may not know the onboarding (refused, not found).
    ref: StepRef | None = None
    notice: str | None = None
    # Set when the channel's invite message should be redrawn.
    invite: InviteStatus | None = None
    # Where on the onboarding's main line the screen is ("Stap 2 van 5"); None off it (a
    # relink, a company change, an ended onboarding).
    step: StepIndicator | None = None
    # How to reach a person, shown where shows_contact(screen) (None: nobody known to name).
    contact: SupportContact | None = None
    # The screen offers the preparation's instructions again (offers_instructions).
    instructions: bool = False


@dataclass(frozen=True)
class ScreenSettings:
    """What screens take from outside the stored progress: our texts' links and phone, and the
    payroll provider's required access (grouped for display) and its way of grouping."""

    terms_url: str
    support_phone: str
    required_access: Mapping[str, list[str]]
    group_access: Callable[[Iterable[str]], dict[str, list[str]]]
    # The provider connects by the customer's consent in the browser (ConsentScreen), not by
    # a pasted username and token (CredentialsScreen).
    consent: bool = False
    # What the link reads, as data keys in the customer's words (PreparationScreen.data).
    data: tuple[str, ...] = ()
    # The customers' time zone: the moments screens show are local to it.
    timezone: str = "Europe/Amsterdam"
    nmbrs_login_url: str = ""


def instructions_screen(
    part: Instructions, settings: ScreenSettings, *, client_name: str, place: tuple[str, str]
) -> Screen:
    """A part of the preparation opened from the modal (`place`: the client's workspace and
    conversation, where a forwarded colleague finds the invite)."""
    if part == Instructions.EXACT_SETTINGS:
        return ExactSettingsScreen(
            permissions=dict(settings.required_access), consent=settings.consent
        )
    if part == Instructions.FORWARD:
        workspace_id, conversation_id = place
        return ForwardScreen(
            client_name=client_name,
            conversation_id=conversation_id,
            workspace_id=workspace_id,
            consent=settings.consent,
        )
    return _preparation(settings, again=True)


def _preparation(settings: ScreenSettings, *, again: bool = False) -> PreparationScreen:
    return PreparationScreen(
        permissions=dict(settings.required_access),
        consent=settings.consent,
        data=settings.data,
        again=again,
        login_url=settings.nmbrs_login_url,
    )


def screen_for(
    state: State | str,
    progress: OnboardingProgress,
    *,
    blocked_until: datetime | None,
    settings: ScreenSettings,
    now: datetime,
) -> Screen:
    """The screen of the onboarding step reached."""
    draft = progress.draft
    current = State(state)
    check = progress.check
    unavailable = check is not None and check.outcome is CheckOutcome.UNAVAILABLE
    if current == State.INVITED:
        return TermsScreen(
            terms_url=settings.terms_url,
            package=draft.package if draft else None,
            terms_ticked=bool(draft and draft.terms_ticked),
        )
    if current == State.TERMS_ACCEPTED:
        if blocked_until is not None and flow.is_blocked(blocked_until, now):
            return _blocked(blocked_until, settings)
        if unavailable:
            return UnavailableScreen()
        if not progress.prepared:
            return _preparation(settings)
        if settings.consent:
            return ConsentScreen(data=dict(settings.required_access), error=progress.consent_error)
        return CredentialsScreen(
            username=(draft.username if draft else None) or progress.username,
            wrong_credentials=progress.credentials_error == "wrong_credentials",
            attempts_left=flow.MAX_FAILED_ATTEMPTS - len(progress.failures),
        )
    if current == State.CREDENTIALS_VERIFIED:
        if unavailable:
            return UnavailableScreen()
        unchanged_at = _local(check.unchanged_at, settings) if check else None
        if check is not None and check.missing_permissions:
            return PermissionsScreen(
                missing=settings.group_access(check.missing_permissions),
                consent=settings.consent,
                unchanged_at=unchanged_at,
            )
        companies = progress.companies or ()
        if not companies:
            return NoCompaniesScreen(
                username=progress.username or "",
                approval=_approval(progress),
                unchanged_at=unchanged_at,
            )
        by_id = {row.id: row for row in companies}
        chosen_ids = (draft.chosen_ids if draft else None) or ()
        return CompanyChoiceScreen(
            companies=companies,
            preselected=tuple(by_id[i] for i in chosen_ids if i in by_id),
            narrowing=progress.narrowing,
            approval=_approval(progress),
        )
    if current == State.COMPANIES_CHOSEN:
        return _over_access(progress.companies or (), progress.chosen or ())
    if current == State.COMPLETED:
        return CompletedScreen(
            companies=progress.chosen or (),
            # Where the link's data lives, as people know it: the Nmbrs environment (SOAP), or
            # the debtors the consent spans (REST: its `domain` holds their ids).
            domain=", ".join(progress.debtors) if progress.debtors else progress.domain or "",
            approval=_approval(progress),
            already_linked=progress.already_linked or 0,
        )
    if current == State.HANDOFF:
        reason = progress.handoff_reason or flow.HANDOFF_NOT_LISTED
        return HandoffScreen(
            reason=reason,
            support_phone=settings.support_phone,
            can_choose_again=reason in flow.PACKAGE_HANDOFFS,
        )
    return EndedScreen(state=current)


def link_screen(
    progress: OnboardingProgress,
    *,
    unlinked: bool,
    link_username: str,
    link_domain: str,
    blocked_until: datetime | None,
    settings: ScreenSettings,
    now: datetime,
) -> Screen:
    """The screen of a relink or company change."""
    if unlinked:
        return EndedScreen(state=State.UNLINKED)
    session = progress.link_session or LinkSession()
    stage = session.stage
    if (
        stage in (Stage.CREDENTIALS, Stage.UNAVAILABLE)
        and blocked_until is not None
        and flow.is_blocked(blocked_until, now)
    ):
        return _blocked(blocked_until, settings)
    seen = session.seen or ()
    chosen = session.chosen or ()
    if stage == Stage.CREDENTIALS:
        return CredentialsScreen(
            username=session.username or link_username,
            wrong_credentials=bool(session.wrong),
            attempts_left=flow.MAX_FAILED_ATTEMPTS - len(progress.failures),
        )
    if stage == Stage.CONSENT:
        return ConsentScreen(data=dict(settings.required_access), error=session.consent_error)
    if stage == Stage.UNAVAILABLE:
        return UnavailableScreen()
    approval = _session_approval(session)
    if stage == Stage.PERMISSIONS:
        return PermissionsScreen(
            missing=settings.group_access(session.missing or ()), consent=settings.consent
        )
    if stage == Stage.NO_COMPANIES:
        return NoCompaniesScreen(username=session.username or link_username, approval=approval)
    if stage == Stage.CHOOSE:
        by_id = {row.id: row for row in seen}
        preselected = tuple(by_id[i] for i in session.chosen_ids or () if i in by_id)
        return CompanyChoiceScreen(
            companies=seen,
            preselected=preselected,
            approval=approval,
            matches=session.matches or (),
        )
    if stage == Stage.OVER_ACCESS:
        return _over_access(seen, chosen)
    if stage == Stage.HANDOFF:
        return HandoffScreen(
            reason=flow.HANDOFF_NO_SUBSCRIPTION, support_phone=settings.support_phone
        )
    if stage == Stage.CONFIRM_ENVIRONMENT:
        return EnvironmentConfirmationScreen(
            link_domain=link_domain, new_domain=session.domain or ""
        )
    if stage == Stage.RELINK_FIRST:
        return RelinkFirstScreen(reason=session.reason or link_flow.REASON_WRONG_CREDENTIALS)
    if stage == Stage.DONE:
        return CompletedScreen(companies=chosen, domain=session.domain or link_domain)
    return StaleScreen()


def _local(moment: datetime | None, settings: ScreenSettings) -> datetime | None:
    return None if moment is None else moment.astimezone(ZoneInfo(settings.timezone))


def _blocked(until: datetime, settings: ScreenSettings) -> BlockedScreen:
    return BlockedScreen(until=until.astimezone(ZoneInfo(settings.timezone)))


def _session_approval(session: LinkSession) -> Approval | None:
    """Who approved a relink by consent, for which debtors (None for other relinks)."""
    if session.approved_by is None and session.debtors is None:
        return None
    return Approval(approved_by=session.approved_by or "", debtors=session.debtors or ())


def _approval(progress: OnboardingProgress) -> Approval | None:
    if progress.approved_by is None and progress.debtors is None:
        return None
    return Approval(approved_by=progress.approved_by or "", debtors=progress.debtors or ())


def _over_access(seen: tuple[Company, ...], chosen: tuple[Company, ...]) -> OverAccessScreen:
    chosen_ids = {row.id for row in chosen}
    return OverAccessScreen(
        seen=len(seen),
        chosen=chosen,
        not_chosen=tuple(row for row in seen if row.id not in chosen_ids),
    )
