"""The credential check of an onboarding: what the payroll provider's answer does to it, inside
the step's transaction (the provider is called before, between transactions)."""

from __future__ import annotations

import logging

from bot.core import events, flow
from bot.core.events import EventBus
from bot.core.flow import CheckAnswer, Event, State
from bot.core.model import Company, InvalidInput, clean_token, looks_like_token
from bot.core.payroll import (
    AccountCheck,
    Connection,
    Consent,
    NoAccess,
    NoSubscription,
    PayrollProvider,
    ProviderCompany,
    ProviderError,
    WrongCredentials,
)
from bot.core.progress import CheckOutcome, CheckRecord
from bot.usecases.transitions import (
    OnboardingContext,
    discard_secrets_and_lists,
    publish,
    transition,
)

logger = logging.getLogger(__name__)


def check_answer(result: AccountCheck | ProviderError) -> CheckAnswer:
    """The provider's answer to a credential check, as the flow knows it."""
    if isinstance(result, AccountCheck):
        return CheckAnswer.VERIFIED
    if isinstance(result, WrongCredentials):
        return CheckAnswer.WRONG_CREDENTIALS
    if isinstance(result, NoSubscription):
        return CheckAnswer.NO_SUBSCRIPTION
    if isinstance(result, NoAccess):
        return CheckAnswer.NO_ACCESS
    return CheckAnswer.UNAVAILABLE


def hand_off(
    bus: EventBus, context: OnboardingContext, reason: str, *, package: str | None = None
) -> None:
    context.progress.handoff_reason = reason
    transition(context, Event.HAND_OFF)
    discard_secrets_and_lists(context)
    publish(bus, context, events.HandedOff, reason=reason, package=package)


def typed_connection(username: str, token: str) -> Connection:
    """The username and token as typed, cleaned; InvalidInput when one is missing or the
    username is a pasted token (refused before Nmbrs sees it, and never named)."""
    username, token = username.strip(), clean_token(token)
    if not username or not token:
        raise InvalidInput("username and token are both required")
    if looks_like_token(username):
        raise InvalidInput("the username looks like a token")
    return Connection(account=username, secret=token)


def check_account(
    provider: PayrollProvider, connection: Connection
) -> AccountCheck | ProviderError:
    """The provider's whole check, or the error it ended with."""
    try:
        return provider.check_account(connection)
    except ProviderError as error:
        logger.info("credential check ended with %s", error.code)
        return error


def apply_check(
    bus: EventBus,
    context: OnboardingContext,
    connection: Connection,
    result: AccountCheck | ProviderError,
) -> None:
    progress = context.progress
    progress.username = connection.account
    progress.credentials_error = None
    progress.narrowing = False
    answer = check_answer(result)
    trigger = flow.event_after_check(context.onboarding.state, answer)
    if answer is CheckAnswer.WRONG_CREDENTIALS:
        if trigger is not None:
            transition(context, trigger)
        reject_credentials(bus, context)
    elif answer is CheckAnswer.NO_SUBSCRIPTION:
        hand_off(bus, context, flow.HANDOFF_NO_SUBSCRIPTION, package=flow.NMBRS)
    elif answer is CheckAnswer.UNAVAILABLE:
        assert isinstance(result, ProviderError)
        # Keep the token (encrypted) so "retry" needs no new paste.
        context.uow.onboardings.set_pending_token(context.onboarding, connection.secret)
        record_failure(bus, context, result)
    else:
        # NoAccess: the login sees nothing at all.
        check = result if isinstance(result, AccountCheck) else None
        accept_credentials(bus, context, connection, check)


def apply_consent(bus: EventBus, context: OnboardingContext, consent: Consent) -> None:
    """A consent the provider connected: like a credential check that worked (the grant kept
    encrypted as the pending token, the approving login as the username, the debtor ids as the
    domain), with who approved it and for which debtors kept to show before the choice."""
    progress = context.progress
    progress.consent_error = None
    # Empty when the provider did not ask who approved (the screens then name the debtors).
    progress.approved_by = consent.approved_by
    progress.debtors = tuple(consent.debtors)
    apply_check(bus, context, consent.connection, consent.check)


def reject_credentials(bus: EventBus, context: OnboardingContext) -> None:
    """A wrong username or token: counted, reported, and not kept (a rejected username may be
    anything the person typed, a token among them, so it is neither stored nor shown again)."""
    onboarding, progress = context.onboarding, context.progress
    context.uow.onboardings.erase_pending_token(onboarding)
    progress.companies = progress.check = progress.domain = progress.chosen = None
    progress.username = None
    progress.save_draft({"username": None})
    record = flow.register_failed_attempt(progress.failures, context.now)
    progress.credentials_error = "wrong_credentials"
    progress.failed_attempts = record.failures
    if record.blocked_until is not None:
        onboarding.blocked_until = record.blocked_until
        publish(
            bus,
            context,
            events.CredentialAttemptsBlocked,
            blocked_until=record.blocked_until.isoformat(),
        )
    else:
        publish(
            bus,
            context,
            events.CredentialsRejected,
            attempts_left=record.attempts_left,
        )


def record_failure(
    bus: EventBus,
    context: OnboardingContext,
    error: ProviderError,
    *,
    chosen_ids: list[str] | None = None,
) -> None:
    context.progress.check = CheckRecord(CheckOutcome.UNAVAILABLE)
    if chosen_ids is not None:
        context.progress.save_draft({"chosen_ids": chosen_ids})
    publish(bus, context, events.ProviderFailed, error=error.code)


def accept_credentials(
    bus: EventBus, context: OnboardingContext, connection: Connection, check: AccountCheck | None
) -> None:
    progress = context.progress
    companies = check.companies if check else []
    missing = check.missing_access if check else []
    domain = check.environment if check else progress.domain or ""
    context.uow.onboardings.set_pending_token(context.onboarding, connection.secret)
    progress.domain = domain
    # The list is kept without GUIDs (only the chosen companies get theirs, at the choice).
    seen = tuple(
        Company(id=row.id, number=row.number, name=row.name)
        for row in (company_row(company) for company in companies)
    )
    # A check again that finds what the one before found changes nothing to report: it is
    # shown to the customer (when it ran) and audited, not reported once more.
    unchanged = (
        context.onboarding.state == State.CREDENTIALS_VERIFIED
        and progress.check is not None
        and progress.check.outcome is CheckOutcome.OK
        and set(progress.check.missing_permissions) == set(missing)
        and {row.id for row in progress.companies or ()} == {row.id for row in seen}
    )
    progress.companies = seen
    progress.check = CheckRecord(
        CheckOutcome.OK, tuple(missing), unchanged_at=context.now if unchanged else None
    )
    progress.failed_attempts = ()
    transition(context, Event.VERIFY_CREDENTIALS)
    publish(
        bus,
        context,
        events.CredentialsVerified,
        username=connection.account,
        domain=domain,
        companies_seen=len(companies),
        missing_permissions=list(missing),
    )
    if unchanged:
        return
    if missing:
        publish(
            bus,
            context,
            events.PermissionsMissing,
            missing_permissions=list(missing),
        )
    elif not companies:
        publish(bus, context, events.NoCompaniesVisible, username=connection.account)


def company_row(company: ProviderCompany) -> Company:
    """A provider's company as the steps keep it: its id is the provider's ref."""
    return Company(id=company.ref, number=company.number, name=company.name, guid=company.guid)


def provider_company(row: Company) -> ProviderCompany:
    return ProviderCompany(ref=row.id, number=row.number, name=row.name, guid=row.guid)
