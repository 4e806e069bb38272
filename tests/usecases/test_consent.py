"""The customer connects Nmbrs by consenting in the browser: the use cases against the fake Nmbrs
REST API over real HTTP (tests/usecases/consent_world.py plays the browser)."""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta

import pytest
from sqlmodel import select

from bot.core.flow import State
from bot.core.model import Actor
from bot.core.payroll import NMBRS_REST
from bot.core.screens import (
    Approval,
    CompanyChoiceScreen,
    CompletedScreen,
    ConsentScreen,
    NoCompaniesScreen,
    PermissionsScreen,
)
from bot.settings import Settings
from bot.usecases.consent import (
    PAGE_DONE,
    PAGE_INVALID,
    PAGE_REFUSED,
    PAGE_STALE,
    START_TOKEN_TTL,
    PageAnswer,
    Redirect,
)
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers, SoapEnded
from bot.usecases.retention import erase_ended_data
from payroll.nmbrs_rest.model import Grant
from payroll.nmbrs_rest.sandbox import (
    FINE_LOGIN,
    MANY_COMPANIES,
    MANY_COMPANIES_LOGIN,
    NARROW_LOGIN,
    NO_COMPANIES_LOGIN,
    TWO_DEBTORS_LOGIN,
    api_error,
    html_error,
)
from storage.models import ConsentRequest, PayrollLink
from tests.storage.scratch import ScratchStorage
from tests.usecases.consent_world import (
    ConsentWorld,
    outcome_of,
    start_token,
)
from tests.usecases.fakes import CUSTOMER, FakeClock, FakeMembership, FakeProvider

# The provider does not ask `user.info.read` (NMBRS_ASK_USER_INFO off): the debtors alone.
APPROVED = Approval(approved_by="", debtors=("1001 Voorbeeld Administratie",))


def consent_rows(world: ConsentWorld) -> list[ConsentRequest]:
    with world.storage.unit_of_work() as uow:
        return list(uow.session.exec(select(ConsentRequest)))


def test_a_new_onboarding_records_its_provider(consent_world: ConsentWorld) -> None:
    assert consent_world.onboarding().step_data["provider"] == NMBRS_REST


def test_after_the_preparation_the_customer_is_asked_to_consent_at_nmbrs(
    consent_world: ConsentWorld,
) -> None:
    screen = consent_world.to_consent()
    assert screen.start_url.startswith("https://onboarding.example.nl/nmbrs/start?t=")
    assert screen.view_key and screen.error is None
    assert "companies" in screen.data["company.info.read"]
    assert consent_rows(consent_world) == []  # nothing is stored until the link is used


def test_a_consent_connects_and_shows_who_approved_before_the_choice(
    consent_world: ConsentWorld,
) -> None:
    screen = consent_world.to_consent()
    finished = consent_world.consent(screen, FINE_LOGIN)
    assert finished.page == PageAnswer(PAGE_DONE, "nl", status=200)
    assert finished.view_key == screen.view_key
    choice = outcome_of(finished).screen
    assert isinstance(choice, CompanyChoiceScreen)
    assert len(choice.companies) == 5
    assert choice.approval == APPROVED
    assert consent_world.onboarding().state == State.CREDENTIALS_VERIFIED
    assert consent_rows(consent_world) == []  # the used request is gone with the step


def test_the_chosen_companies_become_a_rest_link_holding_the_grant(
    consent_world: ConsentWorld,
) -> None:
    choice = outcome_of(consent_world.consent(consent_world.to_consent(), FINE_LOGIN)).screen
    assert isinstance(choice, CompanyChoiceScreen)
    ids = [company.id for company in choice.companies]
    outcome = consent_world.service.choose_companies(consent_world.ref(), CUSTOMER, ids)
    assert isinstance(outcome.screen, CompletedScreen)
    assert outcome.screen.approval == APPROVED
    # Where the data lives, as the customer knows it: the debtor, not its id.
    assert outcome.screen.domain == ", ".join(APPROVED.debtors)
    with consent_world.storage.unit_of_work() as uow:
        link = uow.session.exec(select(PayrollLink)).one()
        assert link.provider == NMBRS_REST
        grant = Grant.from_secret(uow.links.token(link) or "")
        assert "company.info.read" in grant.scopes
        assert [c.guid for c in uow.links.companies(link.id or 0)] == ids
    assert consent_rows(consent_world) == []


def test_a_refused_consent_asks_again_with_a_new_link(consent_world: ConsentWorld) -> None:
    screen = consent_world.to_consent()
    finished = consent_world.consent(screen, FINE_LOGIN, approve=False)
    again = outcome_of(finished).screen
    assert isinstance(again, ConsentScreen)
    assert again.error == "refused"
    assert again.start_url != screen.start_url
    assert consent_world.onboarding().state == State.TERMS_ACCEPTED
    # The new link works: the customer consents after all.
    assert isinstance(
        outcome_of(consent_world.consent(again, FINE_LOGIN)).screen, CompanyChoiceScreen
    )


def test_a_narrower_consent_names_the_data_left_out_and_can_be_given_again(
    consent_world: ConsentWorld,
) -> None:
    finished = consent_world.consent(consent_world.to_consent(), NARROW_LOGIN)
    screen = outcome_of(finished).screen
    assert isinstance(screen, PermissionsScreen) and screen.consent
    assert set(screen.missing) == {"employee.employment.read", "company.document.read"}
    assert "contracts" in screen.missing["employee.employment.read"]
    again = consent_world.service.consent_again(consent_world.ref(), CUSTOMER)
    assert isinstance(again.screen, ConsentScreen)
    assert consent_world.onboarding().pending_token is None
    assert consent_world.onboarding().state == State.TERMS_ACCEPTED


def test_a_consent_for_two_debtors_names_both(consent_world: ConsentWorld) -> None:
    screen = outcome_of(consent_world.consent(consent_world.to_consent(), TWO_DEBTORS_LOGIN)).screen
    assert isinstance(screen, CompanyChoiceScreen)
    assert screen.approval is not None
    assert screen.approval.debtors == ("1001 Voorbeeld Administratie", "1002 Brouwer Holding")
    assert len(screen.companies) == 5


def test_a_login_without_a_filter_is_told_to_set_the_klant_login_filter(
    consent_world: ConsentWorld,
) -> None:
    screen = outcome_of(
        consent_world.consent(consent_world.to_consent(), NO_COMPANIES_LOGIN)
    ).screen
    assert isinstance(screen, NoCompaniesScreen)
    assert screen.approval is not None


def test_a_login_with_many_companies_gets_them_all_to_choose_from(
    consent_world: ConsentWorld,
) -> None:
    finished = consent_world.consent(consent_world.to_consent(), MANY_COMPANIES_LOGIN)
    screen = outcome_of(finished).screen
    assert isinstance(screen, CompanyChoiceScreen)
    assert len(screen.companies) == MANY_COMPANIES


def test_a_replayed_state_is_refused_and_changes_nothing(consent_world: ConsentWorld) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    consent_world.back(query)
    before = consent_world.onboarding()
    again = consent_world.back(query)
    assert again.page == PageAnswer(PAGE_INVALID, None) and again.outcome is None
    after = consent_world.onboarding()
    assert (after.version, after.step_data) == (before.version, before.step_data)


def test_an_expired_state_is_refused(consent_world: ConsentWorld) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    consent_world.clock.moment += timedelta(minutes=10, seconds=1)
    assert consent_world.back(query).page.page == PAGE_INVALID
    assert consent_world.onboarding().state == State.TERMS_ACCEPTED


def test_a_forged_state_is_refused(consent_world: ConsentWorld) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    forged = {**query, "state": secrets.token_urlsafe(32)}
    assert consent_world.back(forged).page.page == PAGE_INVALID
    assert consent_world.back({"state": "", "code": query["code"]}).page.page == PAGE_INVALID
    # The real state still works once.
    assert consent_world.back(query).page.page == PAGE_DONE


def test_an_old_or_altered_start_link_is_refused(consent_world: ConsentWorld) -> None:
    screen = consent_world.to_consent()
    token = start_token(screen.start_url)
    assert consent_world.consents.start(token[:-4] + "AAAA") == PageAnswer(PAGE_INVALID, None)
    assert consent_world.consents.start("") == PageAnswer(PAGE_INVALID, None)
    consent_world.clock.moment += timedelta(seconds=START_TOKEN_TTL + 1)
    assert consent_world.consents.start(token) == PageAnswer(PAGE_INVALID, None)
    assert consent_rows(consent_world) == []


def test_a_start_link_of_a_step_that_is_over_is_refused(consent_world: ConsentWorld) -> None:
    screen = consent_world.to_consent()
    consent_world.consent(screen, FINE_LOGIN)
    assert consent_world.start(screen) == PageAnswer(PAGE_STALE, "nl")


def test_a_person_no_longer_in_the_channel_cannot_start(consent_world: ConsentWorld) -> None:
    screen = consent_world.to_consent()
    consent_world.membership.members["C0SHARED"].discard(CUSTOMER.user_id)
    assert consent_world.start(screen) == PageAnswer(PAGE_REFUSED, "nl")


def test_a_forwarded_link_starts_the_consent_of_the_person_it_was_drawn_for(
    consent_world: ConsentWorld,
) -> None:
    """The link carries its viewer: whoever opens it, the step is the drawn-for person's, and
    the choice screen says whose Nmbrs login approved."""
    screen = consent_world.to_consent()
    answer = consent_world.start(screen)
    assert isinstance(answer, Redirect)
    (row,) = consent_rows(consent_world)
    assert (row.person_id, row.workspace_id) == (CUSTOMER.user_id, CUSTOMER.team_id)


def test_a_code_nmbrs_no_longer_accepts_asks_to_log_in_again(
    consent_world: ConsentWorld,
) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    consent_world.nmbrs.advance(6 * 60)  # codes live 5 minutes
    screen = outcome_of(consent_world.back(query)).screen
    assert isinstance(screen, ConsentScreen) and screen.error == "exchange_failed"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (html_error(503), "unavailable"),
        (api_error(42908), "throttled"),
        (api_error(42909), "quota"),
    ],
)
def test_nmbrs_failing_after_the_consent_says_so_and_offers_a_new_one(
    consent_world: ConsentWorld, fault, error: str
) -> None:
    query = consent_world.at_nmbrs(consent_world.to_consent(), FINE_LOGIN)
    consent_world.nmbrs.fail(fault, "debtors")
    finished = consent_world.back(query)
    screen = outcome_of(finished).screen
    assert isinstance(screen, ConsentScreen) and screen.error == error
    assert screen.start_url
    assert consent_world.onboarding().pending_token is None
    assert "provider_failed" in [event.kind for event in consent_world.published]


def test_an_end_of_the_onboarding_erases_its_consent_requests(
    consent_world: ConsentWorld,
) -> None:
    consent_world.start(consent_world.to_consent())
    assert len(consent_rows(consent_world)) == 1
    consent_world.service.cancel(consent_world.onboarding_id, Actor("U0MANAGER"))
    assert consent_rows(consent_world) == []


def test_no_secret_of_the_consent_is_stored_in_plaintext(consent_world: ConsentWorld) -> None:
    screen = consent_world.to_consent()
    query = consent_world.at_nmbrs(screen, FINE_LOGIN)
    (row,) = consent_rows(consent_world)
    stored = json.dumps({k: str(v) for k, v in row.model_dump().items()}) + json.dumps(
        consent_world.onboarding().step_data
    )
    for secret in (query["state"], query["code"], start_token(screen.start_url)):
        assert secret not in stored
    consent_world.back(query)
    with consent_world.storage.unit_of_work() as uow:
        grant = uow.onboardings.pending_token(consent_world.onboarding()) or ""
    access = Grant.from_secret(grant).access_token
    assert access.encode() not in (consent_world.onboarding().pending_token or b"")
    assert access not in json.dumps(consent_world.onboarding().step_data)


def test_soap_onboardings_are_refused_after_the_soap_end_date() -> None:
    with ScratchStorage() as storage:
        service = OnboardingService(
            unit_of_work=storage.unit_of_work,
            providers=Providers.only(FakeProvider(), soap_ends_on=date(2025, 3, 1)),
            membership=FakeMembership(),
            settings=Settings(_env_file=None),
            clock=FakeClock(),  # 2025-03-03
        )
        with pytest.raises(SoapEnded):
            service.create_invite(
                client_name="Later", channel_id="C0OTHER", team_id="T0", started_by="U0MANAGER"
            )
        with storage.unit_of_work() as uow:
            assert uow.onboardings.list_open() == []


def test_retention_erases_a_consent_started_and_never_called_back(
    consent_world: ConsentWorld,
) -> None:
    consent_world.start(consent_world.to_consent())
    later = consent_world.clock.now() + timedelta(minutes=11)
    erase_ended_data(consent_world.storage.unit_of_work, now=later, retention_days=30)
    assert consent_rows(consent_world) == []
