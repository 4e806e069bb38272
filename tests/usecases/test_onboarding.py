"""The onboarding use cases on real (scratch) storage with a fake payroll provider."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.core import events
from bot.core.events import EventBus
from bot.core.flow import State
from bot.core.model import Actor, InvalidInput
from bot.core.model import Company as CompanyRow
from bot.core.payroll import ProviderCompany, ProviderUnavailable
from bot.core.screens import (
    NOTICE_ALREADY_DONE,
    BlockedScreen,
    CompanyChoiceScreen,
    CompletedScreen,
    CredentialsScreen,
    EndedScreen,
    ErrorScreen,
    ExactSettingsScreen,
    ForwardScreen,
    HandoffScreen,
    Instructions,
    NoCompaniesScreen,
    OverAccessScreen,
    PermissionsScreen,
    PreparationScreen,
    RefusedScreen,
    SupportContact,
    TermsScreen,
    UnavailableScreen,
)
from bot.settings import Settings
from bot.usecases.company_search import CompanyListCache, PackedCompanies, search_companies
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from tests.storage.scratch import ScratchStorage
from tests.usecases.fakes import (
    CHANNEL,
    COMPANIES,
    CUSTOMER,
    STRANGER,
    TOKEN,
    USERNAME,
    FakeClock,
    FakeMembership,
    FakeProvider,
    StoredOnboarding,
)


@dataclass
class World(StoredOnboarding):
    service: OnboardingService
    storage: ScratchStorage
    provider: FakeProvider
    membership: FakeMembership
    clock: FakeClock
    published: list[events.OnboardingEvent]
    onboarding_id: int

    def kinds(self) -> list[str]:
        return [event.kind for event in self.published]

    def to_credentials(self) -> None:
        self.service.open(self.onboarding_id, CUSTOMER)
        self.service.accept_terms(self.ref(), CUSTOMER, accepted=True, package="nmbrs")
        self.service.acknowledge_preparation(self.ref(), CUSTOMER)

    def submit(self, token: str):
        return self.service.submit_credentials(self.ref(), CUSTOMER, username=USERNAME, token=token)

    def to_companies(self) -> None:
        self.to_credentials()
        self.submit(TOKEN)


@pytest.fixture
def world():
    settings = Settings(
        _env_file=None,
        terms_url="https://example.com/terms",
        terms_url_en="https://example.com/terms-en",
        support_phone="020 123 45 67",
        terms_version="2025-01",
    )
    published: list[events.OnboardingEvent] = []
    with ScratchStorage() as storage:
        provider, membership, clock = FakeProvider(), FakeMembership(), FakeClock()
        service = OnboardingService(
            unit_of_work=storage.unit_of_work,
            providers=Providers.only(provider),
            membership=membership,
            settings=settings,
            event_bus=EventBus([lambda uow, event: published.append(event)]),
            clock=clock,
        )
        invite = service.create_invite(
            client_name="Acme", channel_id=CHANNEL, team_id="T0CUSTOMER", started_by="U0MANAGER"
        )
        yield World(service, storage, provider, membership, clock, published, invite.onboarding_id)


def test_an_invite_starts_an_onboarding_in_dutch_at_the_terms(world):
    outcome = world.service.open(world.onboarding_id, CUSTOMER)
    assert outcome.language == "nl"
    assert outcome.screen == TermsScreen(terms_url="https://example.com/terms")
    assert world.onboarding().state == "invited"
    assert world.kinds() == ["invite_created", "onboarding_started"]


def test_an_english_client_gets_the_english_terms_and_a_dutch_client_the_dutch_ones(world):
    world.membership.members["C0ENGLISH"] = {"U0CUSTOMER"}
    english = world.service.create_invite(
        client_name="Smith's Bakery",
        channel_id="C0ENGLISH",
        team_id="T0CUSTOMER",
        started_by="U0MANAGER",
        language="en",
    )
    assert world.service.open(english.onboarding_id, CUSTOMER).screen == TermsScreen(
        terms_url="https://example.com/terms-en"
    )
    assert world.service.open(world.onboarding_id, CUSTOMER).screen == TermsScreen(
        terms_url="https://example.com/terms"
    )


def test_opening_again_reports_the_start_only_once(world):
    world.service.open(world.onboarding_id, CUSTOMER)
    world.service.open(world.onboarding_id, CUSTOMER)
    assert world.kinds().count("onboarding_started") == 1


def test_accepting_the_terms_with_nmbrs_shows_the_preparation(world):
    outcome = world.service.accept_terms(world.ref(), CUSTOMER, accepted=True, package="nmbrs")
    assert isinstance(outcome.screen, PreparationScreen)
    assert "WageTax_GetXML" in outcome.screen.permissions["CompanyService"]
    assert sum(len(names) for names in outcome.screen.permissions.values()) == 22
    assert outcome.invite is not None and outcome.invite.step_reached == 2
    with world.storage.unit_of_work() as uow:
        acceptance = uow.terms.for_onboarding(world.onboarding_id)[0]
        assert (acceptance.person_id, acceptance.workspace_id) == ("U0CUSTOMER", "T0CUSTOMER")
        assert acceptance.terms_version == "2025-01"
        transitions = [e.detail for e in uow.audit.for_onboarding(world.onboarding_id)]
    assert {"from": "invited", "to": "terms_accepted", "event": "accept_terms"} in transitions
    assert world.kinds()[-1] == "terms_accepted"


def test_terms_must_be_accepted(world):
    with pytest.raises(InvalidInput):
        world.service.accept_terms(world.ref(), CUSTOMER, accepted=False, package="nmbrs")
    assert world.onboarding().state == "invited"


@pytest.mark.parametrize(
    ("package", "reason"), [("afas", "other_package"), ("not_listed", "package_not_listed")]
)
def test_another_package_hands_off_with_the_support_phone(world, package, reason):
    outcome = world.service.accept_terms(world.ref(), CUSTOMER, accepted=True, package=package)
    assert outcome.screen == HandoffScreen(
        reason=reason, support_phone="020 123 45 67", can_choose_again=True
    )
    assert world.onboarding().state == "handoff"
    assert outcome.invite is not None and outcome.invite.handoff_reason == reason
    assert world.published[-1].kind == "handed_off"


def test_after_the_preparation_the_credentials_are_asked(world):
    world.service.accept_terms(world.ref(), CUSTOMER, accepted=True, package="nmbrs")
    outcome = world.service.acknowledge_preparation(world.ref(), CUSTOMER)
    assert outcome.screen == CredentialsScreen()


def test_a_wrong_token_asks_again_with_the_username_typed_which_is_kept_and_reported_nowhere(
    world,
):
    world.to_credentials()
    world.service.save_draft(world.onboarding_id, CUSTOMER, {"username": USERNAME})
    outcome = world.service.submit_credentials(
        world.ref(), CUSTOMER, username=USERNAME, token="wrong"
    )
    assert outcome.screen == CredentialsScreen(
        username=USERNAME, wrong_credentials=True, attempts_left=4
    )
    onboarding = world.onboarding()
    assert onboarding.pending_token is None
    assert USERNAME not in str(onboarding.step_data)
    assert world.published[-1] == events.CredentialsRejected(
        onboarding_id=world.onboarding_id,
        client_id=world.published[-1].client_id,
        client_name="Acme",
        channel_id=CHANNEL,
        actor="U0CUSTOMER",
        at=world.clock.moment,
        attempts_left=4,
    )
    with world.storage.unit_of_work() as uow:
        assert all(
            USERNAME not in str(row.detail) for row in uow.audit.for_onboarding(world.onboarding_id)
        )


def test_a_token_typed_as_the_username_is_refused_before_the_provider_is_asked(world):
    world.to_credentials()
    with pytest.raises(InvalidInput) as refused:
        world.service.submit_credentials(world.ref(), CUSTOMER, username=TOKEN, token=TOKEN)
    assert TOKEN not in str(refused.value)
    assert world.provider.checks == []
    assert world.onboarding().state == "terms_accepted"


def test_a_closed_form_does_not_keep_a_token_typed_as_the_username(world):
    world.to_credentials()
    world.service.save_draft(world.onboarding_id, CUSTOMER, {"username": TOKEN})
    assert TOKEN not in str(world.onboarding().step_data)
    assert world.service.open(world.onboarding_id, CUSTOMER).screen == CredentialsScreen()


def test_the_right_token_after_a_wrong_one_shows_the_companies(world):
    world.to_credentials()
    world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token="wrong")
    outcome = world.service.submit_credentials(
        world.ref(), CUSTOMER, username=f"  {USERNAME}\n", token=f" {TOKEN[:16]}\n{TOKEN[16:]}\n"
    )
    assert outcome.screen == CompanyChoiceScreen(
        companies=(CompanyRow("11", 1, "Acme BV"), CompanyRow("12", 2, "Acme Retail"))
    )
    onboarding = world.onboarding()
    assert onboarding.state == "credentials_verified"
    assert onboarding.pending_token is not None and TOKEN.encode() not in onboarding.pending_token
    assert world.storage.cipher.decrypt(onboarding.pending_token) == TOKEN
    assert onboarding.step_data["companies"] == [["11", 1, "Acme BV"], ["12", 2, "Acme Retail"]]


def test_five_wrong_tokens_within_an_hour_block_attempts_for_an_hour(world):
    world.to_credentials()
    for _ in range(4):
        world.clock.moment += timedelta(minutes=5)
        world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token="wrong")
    outcome = world.service.submit_credentials(
        world.ref(), CUSTOMER, username=USERNAME, token="wrong"
    )
    assert outcome.screen == BlockedScreen(until=world.clock.moment + timedelta(hours=1))
    assert world.published[-1].kind == "credential_attempts_blocked"

    checks_before = len(world.provider.checks)
    outcome = world.submit(TOKEN)
    assert isinstance(outcome.screen, BlockedScreen)
    assert len(world.provider.checks) == checks_before

    world.clock.moment += timedelta(hours=1)
    reopened = world.service.open(world.onboarding_id, CUSTOMER)
    assert reopened.screen == CredentialsScreen(wrong_credentials=True)


def test_the_account_manager_can_lift_the_block(world):
    world.to_credentials()
    for _ in range(5):
        world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token="wrong")
    world.service.lift_block(world.onboarding_id, Actor("U0MANAGER"))
    outcome = world.submit(TOKEN)
    assert isinstance(outcome.screen, CompanyChoiceScreen)
    assert "credential_block_lifted" in world.kinds()


def test_missing_permissions_are_named_by_service_and_a_check_again_continues(world):
    world.provider.accounts[USERNAME].missing = [
        "CompanyService.WageTax_GetXML",
        "EmployeeService.Schedule_Get",
    ]
    world.to_companies()
    outcome = world.service.open(world.onboarding_id, CUSTOMER)
    assert outcome.screen == PermissionsScreen(
        missing={"CompanyService": ["WageTax_GetXML"], "EmployeeService": ["Schedule_Get"]}
    )
    assert world.kinds()[-2:] == ["credentials_verified", "permissions_missing"]

    world.provider.accounts[USERNAME].missing = []
    outcome = world.service.check_again(world.ref(), CUSTOMER)
    assert isinstance(outcome.screen, CompanyChoiceScreen)
    assert world.provider.checks == [USERNAME, USERNAME]


def test_a_login_that_sees_no_companies_is_told_about_the_filter(world):
    world.provider.accounts[USERNAME].companies = []
    world.to_companies()
    assert world.service.open(world.onboarding_id, CUSTOMER).screen == NoCompaniesScreen(USERNAME)
    world.provider.accounts[USERNAME].companies = list(COMPANIES)
    outcome = world.service.check_again(world.ref(), CUSTOMER)
    assert isinstance(outcome.screen, CompanyChoiceScreen)


def test_no_api_subscription_hands_off_to_the_account_manager(world):
    world.provider.accounts[USERNAME].no_subscription = True
    world.to_credentials()
    outcome = world.submit(TOKEN)
    assert outcome.screen == HandoffScreen(reason="no_subscription", support_phone="020 123 45 67")
    assert world.onboarding().state == "handoff"
    assert world.onboarding().pending_token is None


def test_nmbrs_failing_then_recovering_on_retry_without_a_new_paste(world):
    world.provider.failure = ProviderUnavailable("timeout")
    world.to_credentials()
    outcome = world.submit(TOKEN)
    assert outcome.screen == UnavailableScreen()
    assert world.published[-1].kind == "provider_failed"

    world.provider.failure = None
    outcome = world.service.check_again(world.ref(), CUSTOMER)
    assert isinstance(outcome.screen, CompanyChoiceScreen)


def test_choosing_every_company_completes_the_link(world):
    world.to_companies()
    outcome = world.service.choose_companies(world.ref(), CUSTOMER, [11, 12])
    assert outcome.screen == CompletedScreen(
        companies=(
            CompanyRow("11", 1, "Acme BV", "guid-11"),
            CompanyRow("12", 2, "Acme Retail", "guid-12"),
        ),
        domain="acme",
    )
    onboarding = world.onboarding()
    assert onboarding.state == "completed"
    assert onboarding.pending_token is None
    assert "companies" not in onboarding.step_data
    with world.storage.unit_of_work() as uow:
        link = uow.links.for_onboarding(world.onboarding_id)
        assert uow.links.token(link) == TOKEN
        assert link.environment["domain"] == "acme" and link.account_label == USERNAME
        linked = [(int(c.provider_company_ref), c.guid) for c in uow.links.companies(link.id)]
    assert linked == [(11, "guid-11"), (12, "guid-12")]
    assert outcome.invite is not None and outcome.invite.companies_linked == 2
    assert world.kinds()[-1] == "onboarding_completed"


def test_choosing_fewer_companies_than_seen_asks_about_over_access_first(world):
    world.provider.accounts[USERNAME].companies.append(
        ProviderCompany(ref="13", number=3, name="Other BV")
    )
    world.to_companies()
    outcome = world.service.choose_companies(world.ref(), CUSTOMER, [11, 12])
    assert outcome.screen == OverAccessScreen(
        seen=3,
        chosen=(
            CompanyRow("11", 1, "Acme BV", "guid-11"),
            CompanyRow("12", 2, "Acme Retail", "guid-12"),
        ),
        not_chosen=(CompanyRow("13", 3, "Other BV"),),
    )
    assert world.published[-1].kind == "over_access_warned"

    outcome = world.service.confirm_over_access(world.ref(), CUSTOMER)
    assert isinstance(outcome.screen, CompletedScreen)
    assert world.kinds()[-2:] == ["over_access_confirmed", "onboarding_completed"]


def test_going_back_to_narrow_the_filter_keeps_the_choice(world):
    world.provider.accounts[USERNAME].companies.append(
        ProviderCompany(ref="13", number=3, name="Other BV")
    )
    world.to_companies()
    world.service.choose_companies(world.ref(), CUSTOMER, [11])
    outcome = world.service.narrow_filter(world.ref(), CUSTOMER)
    assert isinstance(outcome.screen, CompanyChoiceScreen)
    assert outcome.screen.narrowing
    assert outcome.screen.preselected == (CompanyRow("11", 1, "Acme BV"),)
    assert world.published[-1].kind == "over_access_narrowing"

    world.provider.accounts[USERNAME].companies = [COMPANIES[0]]
    outcome = world.service.check_again(world.ref(), CUSTOMER)
    assert outcome.screen == CompanyChoiceScreen(
        companies=(CompanyRow("11", 1, "Acme BV"),), preselected=(CompanyRow("11", 1, "Acme BV"),)
    )


def test_a_second_submit_of_the_same_step_returns_the_same_result_without_effect(world):
    world.to_companies()
    ref = world.ref()
    first = world.service.choose_companies(ref, CUSTOMER, [11, 12])
    again = world.service.choose_companies(ref, CUSTOMER, [11, 12])
    assert again.screen == first.screen
    assert again.notice is None and again.invite is None
    assert world.kinds().count("onboarding_completed") == 1


def test_a_view_from_an_earlier_step_gets_the_current_screen_with_a_notice(world):
    stale = world.ref()
    world.to_credentials()
    outcome = world.service.accept_terms(stale, CUSTOMER, accepted=True, package="afas")
    assert outcome.notice == NOTICE_ALREADY_DONE
    assert outcome.screen == CredentialsScreen()
    assert world.onboarding().state == "terms_accepted"


def test_two_concurrent_company_submissions_leave_one_link(world):
    world.to_companies()
    ref = world.ref()
    world.provider.before_guids = threading.Barrier(2)
    outcomes = []

    def submit() -> None:
        outcomes.append(world.service.choose_companies(ref, CUSTOMER, [11, 12]))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert [type(outcome.screen) for outcome in outcomes] == [CompletedScreen, CompletedScreen]
    assert world.kinds().count("onboarding_completed") == 1
    with world.storage.unit_of_work() as uow:
        kinds = [event.kind for event in uow.audit.for_onboarding(world.onboarding_id)]
    assert kinds.count("onboarding_completed") == 1


def test_someone_outside_the_channel_is_refused_and_nothing_changes(world):
    version = world.onboarding().version
    outcome = world.service.accept_terms(world.ref(), STRANGER, accepted=True, package="nmbrs")
    assert outcome.screen == RefusedScreen()
    assert outcome.ref is None
    assert world.onboarding().state == "invited"
    assert world.onboarding().version == version
    assert world.published[-1].kind == "access_refused"


def test_a_click_from_another_channel_is_refused(world):
    elsewhere = Actor(user_id="U0CUSTOMER", team_id="T0CUSTOMER", channel_id="C0OTHER")
    assert world.service.open(world.onboarding_id, elsewhere).screen == RefusedScreen()


def test_an_unknown_onboarding_is_an_error_screen(world):
    assert world.service.open(9999, CUSTOMER).screen == ErrorScreen("not_found")


def test_a_step_the_state_does_not_allow_is_an_error_the_user_sees(world):
    outcome = world.service.confirm_over_access(world.ref(), CUSTOMER)
    assert outcome.screen == ErrorScreen("illegal_step")
    assert world.onboarding().state == "invited"


def test_a_company_the_login_does_not_see_is_refused(world):
    world.to_companies()
    with pytest.raises(InvalidInput):
        world.service.choose_companies(world.ref(), CUSTOMER, [11, 99])


def test_a_closed_modal_keeps_what_was_entered_but_never_the_token(world):
    world.to_credentials()
    world.service.save_draft(
        world.onboarding_id, CUSTOMER, {"username": "typed@acme.nl", "token": TOKEN}
    )
    assert "token" not in str(world.onboarding().step_data)
    outcome = world.service.open(world.onboarding_id, CUSTOMER)
    assert outcome.screen == CredentialsScreen(username="typed@acme.nl")


def test_resume_at_the_terms_keeps_the_package_and_the_tick(world):
    world.service.save_draft(
        world.onboarding_id, CUSTOMER, {"package": "nmbrs", "terms_ticked": True}
    )
    outcome = world.service.open(world.onboarding_id, CUSTOMER)
    assert outcome.screen == TermsScreen(
        terms_url="https://example.com/terms", package="nmbrs", terms_ticked=True
    )


def test_a_stranger_cannot_save_a_draft(world):
    world.service.save_draft(world.onboarding_id, STRANGER, {"package": "afas"})
    assert "draft" not in world.onboarding().step_data


def test_type_ahead_finds_companies_by_name_or_number(world):
    world.provider.accounts[USERNAME].companies = [
        ProviderCompany(ref=str(1000 + n), number=n, name=f"Company {n:04d}")
        for n in range(1, 5001)
    ]
    world.to_companies()
    by_name = world.service.suggest_companies(world.onboarding_id, CUSTOMER, "company 004")
    assert [row.number for row in by_name] == list(range(40, 50))
    by_number = world.service.suggest_companies(world.onboarding_id, CUSTOMER, "4999")
    assert [row.name for row in by_number] == ["Company 4999"]
    assert len(world.service.suggest_companies(world.onboarding_id, CUSTOMER, "comp")) == 100
    assert world.service.suggest_companies(world.onboarding_id, CUSTOMER, "c") == []
    assert world.service.suggest_companies(world.onboarding_id, STRANGER, "comp") == []


def test_type_ahead_follows_the_company_list_when_the_check_runs_again(world):
    account = world.provider.accounts[USERNAME]
    account.companies = [
        ProviderCompany(ref=str(1000 + n), number=n, name=f"Old {n:04d}") for n in range(200)
    ]
    world.to_companies()
    assert len(world.service.suggest_companies(world.onboarding_id, CUSTOMER, "old")) == 100
    account.companies = [
        ProviderCompany(ref=str(3000 + n), number=n, name=f"New {n:04d}") for n in range(200)
    ]
    world.service.check_again(world.ref(), CUSTOMER)
    assert world.service.suggest_companies(world.onboarding_id, CUSTOMER, "old") == []
    assert len(world.service.suggest_companies(world.onboarding_id, CUSTOMER, "new")) == 100


def test_the_company_list_cache_keeps_the_latest_lists_within_its_size():
    one, two, three = (PackedCompanies([(n, n, f"Klant {n}")]) for n in (1, 2, 3))
    cache = CompanyListCache(max_bytes=one.size + two.size)
    cache.put(1, 1, one)
    cache.put(2, 1, two)
    assert cache.get(1, 1) is one  # now the most recently used
    cache.put(3, 1, three)
    assert cache.get(2, 1) is None and cache.get(1, 1) and cache.get(3, 1)
    assert cache.get(1, 2) is None  # another version of the row: not this list
    assert cache.bytes <= cache.max_bytes


def test_the_company_list_cache_keeps_a_list_larger_than_its_size_alone():
    cache = CompanyListCache(max_bytes=0)
    cache.put(1, 1, PackedCompanies([(1, 1, "a")]))
    cache.put(2, 1, PackedCompanies([(2, 2, "b")]))
    assert len(cache) == 1 and cache.get(2, 1) is not None


def test_a_packed_list_takes_about_half_the_memory_of_the_decoded_triples():
    triples = [[700000 + n, n, f"Klant {n:04d} B.V."] for n in range(1, 5001)]
    decoded = sum(sys.getsizeof(t) + sum(sys.getsizeof(v) for v in t) for t in triples)
    assert PackedCompanies(triples).size < decoded * 0.6


def test_the_cache_size_comes_from_the_settings(world):
    cache = world.service._company_lists  # noqa: SLF001
    assert cache.max_bytes == 32 * 2**20


def test_search_matches_names_case_insensitively_and_numbers_by_prefix():
    rows = [CompanyRow("1", 12, "Bakkerij Jansen"), CompanyRow("2", 120, "Jansen Bouw")]
    assert [row.id for row in search_companies(rows, "JANSEN")] == ["1", "2"]
    assert [row.id for row in search_companies(rows, "120")] == ["2"]


def test_search_finds_names_with_any_character_and_sorts_them_by_name():
    rows = [CompanyRow("1", 7, "Zee\x00land"), CompanyRow("2", 8, "Straße"), CompanyRow("3", 9, "")]
    assert [row.name for row in search_companies(rows, "ZEE LAND")] == ["Zee land"]
    assert [row.id for row in search_companies(rows, "strasse")] == ["2"]
    assert [row.id for row in search_companies(rows, "")] == ["3", "2", "1"]
    assert search_companies(rows, "\x00") == []
    assert search_companies([], "ze") == []


def test_cancelling_erases_the_kept_token_and_ends_the_flow(world):
    world.to_companies()
    status = world.service.cancel(world.onboarding_id, Actor("U0MANAGER"))
    assert status.state is State.CANCELLED
    assert world.onboarding().pending_token is None
    outcome = world.service.choose_companies(world.ref(), CUSTOMER, [11])
    assert outcome.screen == EndedScreen(State.CANCELLED)


def test_expiry_erases_the_kept_token(world):
    world.to_companies()
    world.service.expire(world.onboarding_id)
    assert world.onboarding().state == "expired"
    assert world.onboarding().pending_token is None
    assert world.published[-1].kind == "onboarding_expired"


def test_no_event_or_audit_detail_holds_the_token(world):
    world.to_credentials()
    world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token="wrong")
    world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token=TOKEN)
    world.service.choose_companies(world.ref(), CUSTOMER, [11, 12])
    assert TOKEN not in repr(world.published)
    with world.storage.unit_of_work() as uow:
        assert TOKEN not in repr([e.detail for e in uow.audit.for_onboarding(world.onboarding_id)])


def test_the_preparation_names_the_data_in_business_words_and_links_to_the_nmbrs_login(world):
    world.service.open(world.onboarding_id, CUSTOMER)
    outcome = world.service.accept_terms(world.ref(), CUSTOMER, accepted=True, package="nmbrs")
    screen = outcome.screen
    assert isinstance(screen, PreparationScreen) and not screen.again
    assert {"employees", "contracts", "salaries", "wage_tax_returns"} <= set(screen.data)
    assert screen.login_url == "https://login.nmbrs.com/"
    assert outcome.instructions is False  # this is the instructions' own screen


def test_every_screen_after_the_preparation_offers_the_instructions_again(world):
    world.to_credentials()
    credentials = world.service.open(world.onboarding_id, CUSTOMER)
    assert isinstance(credentials.screen, CredentialsScreen) and credentials.instructions
    companies = world.submit(TOKEN)
    assert isinstance(companies.screen, CompanyChoiceScreen) and companies.instructions


@pytest.mark.parametrize(
    ("part", "kind"),
    [
        (Instructions.PREPARATION, PreparationScreen),
        (Instructions.EXACT_SETTINGS, ExactSettingsScreen),
        (Instructions.FORWARD, ForwardScreen),
    ],
)
def test_the_instructions_open_from_any_later_step_and_change_nothing(world, part, kind):
    world.to_companies()
    before = world.onboarding()
    outcome = world.service.instructions(world.onboarding_id, CUSTOMER, part)
    assert isinstance(outcome.screen, kind)
    after = world.onboarding()
    assert (after.state, after.step_data, after.version) == (
        before.state,
        before.step_data,
        before.version,
    )


def test_opened_again_the_preparation_informs_and_the_exact_settings_name_every_permission(world):
    world.to_credentials()
    again = world.service.instructions(world.onboarding_id, CUSTOMER, Instructions.PREPARATION)
    assert again.screen.again
    exact = world.service.instructions(world.onboarding_id, CUSTOMER, Instructions.EXACT_SETTINGS)
    assert sum(len(names) for names in exact.screen.permissions.values()) == 22


def test_the_forward_points_at_the_clients_channel(world):
    forward = world.service.instructions(world.onboarding_id, CUSTOMER, Instructions.FORWARD)
    assert forward.screen == ForwardScreen(
        client_name="Acme", conversation_id=CHANNEL, workspace_id="T0CUSTOMER"
    )


def test_someone_outside_the_channel_gets_no_instructions(world):
    outcome = world.service.instructions(world.onboarding_id, STRANGER, Instructions.FORWARD)
    assert isinstance(outcome.screen, RefusedScreen)


def test_error_screens_name_the_account_manager_and_our_phone(world):
    world.to_credentials()
    world.provider.failure = ProviderUnavailable("down")
    outcome = world.submit(TOKEN)
    assert isinstance(outcome.screen, UnavailableScreen)
    assert outcome.contact == SupportContact(account_manager="U0MANAGER", phone="020 123 45 67")
    refused = world.service.open(world.onboarding_id, STRANGER)
    assert refused.contact is not None and refused.contact.account_manager == "U0MANAGER"


def test_the_block_ends_in_the_customers_time_zone(world):
    world.to_credentials()
    for _ in range(5):
        outcome = world.submit("wrong")
    until = outcome.screen.until
    assert until.utcoffset() == timedelta(hours=1)  # Amsterdam in winter
    assert until == world.clock.moment + timedelta(hours=1)
