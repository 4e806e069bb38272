"""The onboarding's side of the consent (bot.usecases.onboarding_consent) against the fake Nmbrs
REST API over real HTTP: a login that sees no data, the grant refreshed before a check again
(past the access token's hour, refused, Nmbrs unavailable), and who approved with and without
`user.info.read`."""

from __future__ import annotations

from sqlmodel import select

from bot.core.flow import MAX_FAILED_ATTEMPTS, State
from bot.core.screens import (
    Approval,
    CompanyChoiceScreen,
    ConsentScreen,
    NoCompaniesScreen,
    UnavailableScreen,
)
from payroll.nmbrs_rest.model import Grant
from payroll.nmbrs_rest.sandbox import (
    FINE_LOGIN,
    NO_COMPANIES_LOGIN,
    SandboxHandle,
    api_error,
    demo_companies,
    html_error,
)
from payroll.nmbrs_rest.sandbox.world import ACCESS_LIFETIME, REFRESH_LIFETIME
from storage.models import PayrollLink
from tests.usecases.consent_world import (
    ConsentWorld,
    consent_world_with,
    outcome_of,
    rest_provider,
)
from tests.usecases.fakes import CUSTOMER

TWO_HOURS = 2 * ACCESS_LIFETIME


def kept_grant(world: ConsentWorld) -> Grant | None:
    with world.storage.unit_of_work() as uow:
        secret = uow.onboardings.pending_token(world.onboarding())
    return Grant.from_secret(secret) if secret else None


def no_companies_consented(world: ConsentWorld) -> NoCompaniesScreen:
    screen = outcome_of(world.consent(world.to_consent(), NO_COMPANIES_LOGIN)).screen
    assert isinstance(screen, NoCompaniesScreen), screen
    return screen


def fix_the_filter_at_nmbrs(world: ConsentWorld) -> None:
    world.nmbrs.login(NO_COMPANIES_LOGIN).debtors[0].companies.extend(demo_companies()[:2])


# --- a login that sees no data at all ------------------------------------------------------


def test_a_login_that_sees_no_data_is_told_to_fix_its_template_and_filter(
    consent_world: ConsentWorld,
) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    consent_world.nmbrs.fail(api_error(40303), "debtors")
    screen = outcome_of(consent_world.back(query)).screen
    assert isinstance(screen, ConsentScreen)
    assert screen.error == "no_access"
    assert screen.start_url  # approve again after fixing it at Nmbrs
    assert consent_world.onboarding().pending_token is None
    assert consent_world.onboarding().state == State.TERMS_ACCEPTED


def test_after_fixing_the_login_a_new_consent_connects(consent_world: ConsentWorld) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    consent_world.nmbrs.fail(api_error(40303, times=1), "debtors")
    again = outcome_of(consent_world.back(query)).screen
    assert isinstance(again, ConsentScreen)
    choice = outcome_of(consent_world.consent(again, FINE_LOGIN)).screen
    assert isinstance(choice, CompanyChoiceScreen)


# --- check again refreshes the grant -------------------------------------------------------


def test_check_again_after_the_access_tokens_hour_refreshes_the_grant(
    consent_world: ConsentWorld,
) -> None:
    no_companies_consented(consent_world)
    before = kept_grant(consent_world)
    assert before is not None
    fix_the_filter_at_nmbrs(consent_world)
    consent_world.nmbrs.advance(TWO_HOURS)
    assert consent_world.nmbrs.state.live_access(before.access_token) is None

    outcome = consent_world.service.check_again(consent_world.ref(), CUSTOMER)

    assert isinstance(outcome.screen, CompanyChoiceScreen)
    assert len(outcome.screen.companies) == 2
    after = kept_grant(consent_world)
    assert after is not None
    assert after.refresh_token != before.refresh_token
    assert consent_world.nmbrs.state.live_access(after.access_token) is not None
    # Stored encrypted, like the first grant.
    assert after.access_token.encode() not in (consent_world.onboarding().pending_token or b"")
    progress = consent_world.onboarding().step_data
    assert not progress.get("failed_attempts")


def test_the_refreshed_grant_is_the_one_the_link_gets(consent_world: ConsentWorld) -> None:
    no_companies_consented(consent_world)
    fix_the_filter_at_nmbrs(consent_world)
    consent_world.nmbrs.advance(TWO_HOURS)
    choice = consent_world.service.check_again(consent_world.ref(), CUSTOMER).screen
    assert isinstance(choice, CompanyChoiceScreen)
    kept = kept_grant(consent_world)
    ids = [company.id for company in choice.companies]
    consent_world.service.choose_companies(consent_world.ref(), CUSTOMER, ids)
    with consent_world.storage.unit_of_work() as uow:
        link = uow.session.exec(select(PayrollLink)).one()
        assert Grant.from_secret(uow.links.token(link) or "") == kept


def test_a_grant_nmbrs_refuses_asks_to_approve_again_and_is_no_wrong_attempt(
    consent_world: ConsentWorld,
) -> None:
    no_companies_consented(consent_world)
    consent_world.nmbrs.advance(REFRESH_LIFETIME + 60)  # the refresh token is dead too

    outcome = consent_world.service.check_again(consent_world.ref(), CUSTOMER)

    assert isinstance(outcome.screen, ConsentScreen)
    assert outcome.screen.error == "grant_refused"
    assert outcome.screen.start_url
    onboarding = consent_world.onboarding()
    assert onboarding.state == State.TERMS_ACCEPTED
    assert onboarding.pending_token is None
    assert onboarding.blocked_until is None
    assert not onboarding.step_data.get("failed_attempts")
    assert not onboarding.step_data.get("credentials_error")
    kinds = [event.kind for event in consent_world.published]
    assert "credentials_rejected" not in kinds
    assert "provider_failed" in kinds


def test_refused_grants_never_block_the_onboarding(consent_world: ConsentWorld) -> None:
    consent_world.to_consent()
    for _ in range(MAX_FAILED_ATTEMPTS + 1):
        screen = consent_world.service.open(consent_world.onboarding_id, CUSTOMER).screen
        assert isinstance(screen, ConsentScreen), screen
        assert isinstance(
            outcome_of(consent_world.consent(screen, NO_COMPANIES_LOGIN)).screen,
            NoCompaniesScreen,
        )
        consent_world.nmbrs.advance(REFRESH_LIFETIME + 60)
        again = consent_world.service.check_again(consent_world.ref(), CUSTOMER).screen
        assert isinstance(again, ConsentScreen) and again.error == "grant_refused"
    onboarding = consent_world.onboarding()
    assert onboarding.blocked_until is None
    assert not onboarding.step_data.get("failed_attempts")
    kinds = [event.kind for event in consent_world.published]
    assert "credential_attempts_blocked" not in kinds
    assert "credentials_rejected" not in kinds


def test_nmbrs_unavailable_at_the_refresh_keeps_the_grant_for_another_try(
    consent_world: ConsentWorld,
) -> None:
    no_companies_consented(consent_world)
    before = kept_grant(consent_world)
    fix_the_filter_at_nmbrs(consent_world)
    consent_world.nmbrs.advance(TWO_HOURS)
    consent_world.nmbrs.fail(html_error(503, times=1), "token")

    outcome = consent_world.service.check_again(consent_world.ref(), CUSTOMER)

    assert isinstance(outcome.screen, UnavailableScreen)
    assert kept_grant(consent_world) == before  # its refresh token was not used
    retried = consent_world.service.check_again(consent_world.ref(), CUSTOMER)
    assert isinstance(retried.screen, CompanyChoiceScreen)


# --- who approved ----------------------------------------------------------------------------


def test_without_user_info_the_approval_names_the_debtors_only(
    consent_world: ConsentWorld,
) -> None:
    choice = outcome_of(consent_world.consent(consent_world.to_consent(), FINE_LOGIN)).screen
    assert isinstance(choice, CompanyChoiceScreen)
    assert choice.approval == Approval(approved_by="", debtors=("1001 Voorbeeld Administratie",))
    kept = kept_grant(consent_world)
    assert kept is not None and "user.info.read" not in kept.scopes


def test_with_user_info_the_approval_names_the_approving_login(
    rest_nmbrs: SandboxHandle,
) -> None:
    provider = rest_provider(rest_nmbrs, ask_user_info=True)
    with consent_world_with(rest_nmbrs, provider) as world:
        choice = outcome_of(world.consent(world.to_consent(), FINE_LOGIN)).screen
        assert isinstance(choice, CompanyChoiceScreen)
        assert choice.approval == Approval(
            approved_by=FINE_LOGIN, debtors=("1001 Voorbeeld Administratie",)
        )
