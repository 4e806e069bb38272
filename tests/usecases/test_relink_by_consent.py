"""A SOAP link relinked by consent moves to the REST API: the consent played in the REST
sandbox's browser over real HTTP, the link's companies matched (by GUID, else by number and
name, or not found) and ticked, and the move made in one transaction on confirming; on SQLite
and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from bot.clock import SystemClock, WorkingCalendar
from bot.core.matching import MatchedBy
from bot.core.payroll import NMBRS_REST, Consent
from bot.core.screens import (
    CONSENT_EXCHANGE_FAILED,
    CONSENT_REFUSED,
    CompanyChoiceScreen,
    CompletedScreen,
    ConsentScreen,
    EnvironmentConfirmationScreen,
    OverAccessScreen,
    PermissionsScreen,
)
from bot.reports import LinkEventNotices, status_notices
from bot.settings import Settings
from bot.usecases.consent import PURPOSE_RELINK, ConsentFlow, PageAnswer, Redirect
from bot.usecases.link_service import LinkService
from bot.usecases.migration import LinkMigration
from bot.usecases.providers import Providers
from bot.usecases.relink import RelinkConsent
from payroll.nmbrs_rest.model import Grant
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    NARROW_LOGIN,
    TWO_DEBTORS_LOGIN,
    demo_logins,
    run_rest_sandbox,
)
from payroll.nmbrs_rest.sandbox import SandboxHandle as RestSandbox
from payroll.nmbrs_rest.sandbox.world import SandboxCompany, company_guid
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN
from storage.crypto import generate_key
from storage.models import ConsentRequest
from tests.usecases.fakes import counting_commits
from tests.usecases.link_world import (
    CUSTOMER,
    DEMO_IDS,
    STATUS,
    Members,
    MigratedStorage,
    World,
    make_world,
)

CALLBACK = "http://127.0.0.1:9/nmbrs/callback"


@pytest.fixture(scope="module")
def running_rest() -> Iterator[RestSandbox]:
    with run_rest_sandbox(redirect_uris=[CALLBACK]) as handle:
        yield handle


@pytest.fixture
def rest(running_rest: RestSandbox) -> RestSandbox:
    running_rest.state.reset(demo_logins())
    running_rest.heal()
    running_rest.clear_calls()
    return running_rest


@pytest.fixture
def rest_provider(rest: RestSandbox) -> Iterator[RestNmbrsProvider]:
    provider = RestNmbrsProvider(
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        subscription_key=DEMO_SUBSCRIPTION_KEY,
        rest_url=rest.base_url,
        identity_url=rest.base_url,
        connect_timeout=1.0,
        read_timeout=5.0,
    )
    yield provider
    provider.close()


@pytest.fixture
def world(nmbrs, database_url: str, rest_provider: RestNmbrsProvider) -> Iterator[World]:
    storage = MigratedStorage(database_url, generate_key())
    provider = SoapNmbrsProvider(nmbrs.base_url)
    world = make_world(nmbrs, storage, provider)
    world.rest_provider = rest_provider  # type: ignore[attr-defined]
    yield world
    provider.close()
    storage.close()


def consent_links(world: World, unit_of_work=None) -> LinkService:
    """The link use cases with the REST API configured: relinks are consents."""
    settings = Settings(
        _env_file=None,
        status_channel=STATUS,
        support_phone="020 123 45 67",
        public_url=CALLBACK.removesuffix("/nmbrs/callback"),
    )
    return LinkService(
        unit_of_work=unit_of_work or world.storage.unit_of_work,
        providers=Providers(
            {world.provider.name: world.provider, NMBRS_REST: world.rest_provider},  # type: ignore[attr-defined]
            world.provider.name,
        ),
        membership=Members(),
        settings=settings,
        event_bus=world.links._event_bus,
        reports=status_notices(settings),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        consent_provider=world.rest_provider,  # type: ignore[attr-defined]
    )


def give_consent(rest: RestSandbox, provider: RestNmbrsProvider, login: str) -> Consent:
    """What the consent's callback does: the browser approves at Nmbrs, the code is exchanged
    and the connection checked."""
    start = provider.authorization_start(redirect_uri=CALLBACK, state="a-state")
    back = rest.consent(start.url, login)
    return provider.connect(back["code"], redirect_uri=CALLBACK, code_verifier=start.code_verifier)


def relink_to_choice(world, rest, rest_provider, login: str = FINE_LOGIN):
    links = consent_links(world)
    onboarding_id = world.linked_client()
    opened = links.open_relink(onboarding_id, CUSTOMER)
    assert isinstance(opened.screen, ConsentScreen)
    consented = links.relink_consented(
        opened.ref, CUSTOMER, give_consent(rest, rest_provider, login)
    )
    return links, onboarding_id, consented


def test_a_relink_with_the_rest_api_configured_asks_for_consent_and_changes_nothing_yet(world):
    onboarding_id = world.linked_client()
    opened = consent_links(world).open_relink(onboarding_id, CUSTOMER)
    assert isinstance(opened.screen, ConsentScreen)
    # What the consent asks is the REST API's data, not the SOAP link's permissions.
    assert set(opened.screen.data) == set(world.rest_provider.required_access)
    link, companies, token = world.link(onboarding_id)
    assert (link.provider, token, companies) == ("nmbrs", DEMO_TOKEN, DEMO_IDS)


def test_after_the_consent_the_choice_ticks_the_links_companies_matched_by_guid(
    world, rest, rest_provider
):
    _, onboarding_id, consented = relink_to_choice(world, rest, rest_provider)
    screen = consented.screen
    assert isinstance(screen, CompanyChoiceScreen)
    guids = [company_guid(int(soap_id)) for soap_id in DEMO_IDS]
    assert [company.id for company in screen.preselected] == guids
    assert {match.how for match in screen.matches} == {MatchedBy.GUID}
    link, companies, token = world.link(onboarding_id)
    assert (link.provider, token, companies) == ("nmbrs", DEMO_TOKEN, DEMO_IDS)


def test_confirming_moves_the_link_to_the_rest_api_in_one_transaction(world, rest, rest_provider):
    _, onboarding_id, consented = relink_to_choice(world, rest, rest_provider)
    unit_of_work, commits = counting_commits(world.storage.unit_of_work)
    chosen = [company.id for company in consented.screen.preselected]
    done = consent_links(world, unit_of_work).choose_companies(consented.ref, CUSTOMER, chosen)
    assert isinstance(done.screen, CompletedScreen)
    assert len(commits) == 1
    link, companies, secret = world.link(onboarding_id)
    assert link.provider == NMBRS_REST and link.status == "active"
    assert link.grant_renewed_at is not None  # the daily renewal counts from the move
    assert Grant.from_secret(secret).refresh_token  # the grant, in place of the SOAP token
    assert DEMO_TOKEN not in secret
    assert companies == chosen
    with world.storage.unit_of_work() as uow:
        rows = uow.links.companies(link.id)
        assert [row.guid for row in rows] == chosen
        assert uow.onboardings.get(onboarding_id).pending_token is None
    assert Grant.from_secret(secret).refresh_token.encode() not in link.encrypted_secret
    [moved] = world.audit("link_moved_to_rest")
    assert moved.detail["previous_username"] == "demo@voorbeeld.nl"
    reports = [row.kind for row in world.outbox(channel=STATUS)]
    assert "report.link_moved_to_rest" in reports


def moved_to_rest(world, rest, rest_provider) -> int:
    """A SOAP link moved to the REST API by the fine login's consent (debtor 1001)."""
    links, onboarding_id, consented = relink_to_choice(world, rest, rest_provider)
    chosen = [company.id for company in consented.screen.preselected]
    assert isinstance(
        links.choose_companies(consented.ref, CUSTOMER, chosen).screen, CompletedScreen
    )
    return onboarding_id


def consent_again(world, rest, rest_provider, onboarding_id: int, login: str):
    links = consent_links(world)
    opened = links.open_relink(onboarding_id, CUSTOMER)
    assert isinstance(opened.screen, ConsentScreen)
    return links.relink_consented(opened.ref, CUSTOMER, give_consent(rest, rest_provider, login))


def test_a_rest_link_consented_again_for_other_debtors_waits_for_an_account_manager(
    world, rest, rest_provider
):
    onboarding_id = moved_to_rest(world, rest, rest_provider)
    link_before, companies_before, secret_before = world.link(onboarding_id)

    waiting = consent_again(world, rest, rest_provider, onboarding_id, TWO_DEBTORS_LOGIN)

    assert isinstance(waiting.screen, EnvironmentConfirmationScreen)
    link, companies, secret = world.link(onboarding_id)
    assert (link.environment, companies, secret) == (
        link_before.environment,
        companies_before,
        secret_before,
    )
    confirmed = consent_links(world).confirm_environment(link.id, manager="U0MANAGER")
    assert confirmed is not None
    choice = consent_links(world).open_relink(onboarding_id, CUSTOMER).screen
    assert isinstance(choice, CompanyChoiceScreen)
    assert len(choice.companies) == 5  # both debtors' companies


def test_a_rest_link_consented_again_for_the_same_debtor_goes_on_to_the_choice(
    world, rest, rest_provider
):
    onboarding_id = moved_to_rest(world, rest, rest_provider)
    again = consent_again(world, rest, rest_provider, onboarding_id, FINE_LOGIN)
    assert isinstance(again.screen, CompanyChoiceScreen)


def test_a_company_matched_by_number_and_name_and_one_the_login_no_longer_sees(
    world, rest, rest_provider
):
    onboarding_id = world.linked_client()
    with world.storage.unit_of_work() as uow:
        rows = {
            row.provider_company_ref: row
            for row in uow.links.companies(world.link_id(onboarding_id))
        }
    fine = rest.state.logins[FINE_LOGIN].debtors[0]
    renamed = rows["48202"]  # another companyId at REST, the same number and name
    fine.companies = [
        SandboxCompany(str(uuid.uuid4()), str(renamed.number), renamed.name)
        if company.company_id == company_guid(48202)
        else company
        for company in fine.companies
        if company.company_id != company_guid(48205)  # no longer seen
    ]
    links = consent_links(world)
    opened = links.open_relink(onboarding_id, CUSTOMER)
    consent = give_consent(rest, rest_provider, FINE_LOGIN)
    screen = links.relink_consented(opened.ref, CUSTOMER, consent).screen
    how = {match.linked.id: match.how for match in screen.matches}
    assert how == {
        "48201": MatchedBy.GUID,
        "48202": MatchedBy.NUMBER_AND_NAME,
        "48203": MatchedBy.GUID,
        "48204": MatchedBy.GUID,
        "48205": MatchedBy.NOT_FOUND,
    }
    assert len(screen.preselected) == 4
    done = links.choose_companies(
        screen_ref(world, onboarding_id), CUSTOMER, [c.id for c in screen.preselected]
    )
    assert isinstance(done.screen, CompletedScreen)
    [moved] = world.audit("link_moved_to_rest")
    assert moved.detail["removed"] == [rows["48205"].name]


def screen_ref(world: World, onboarding_id: int):
    return consent_links(world).open_relink(onboarding_id, CUSTOMER).ref


def test_choosing_fewer_than_the_login_sees_asks_the_over_access_confirmation_first(
    world, rest, rest_provider
):
    links, onboarding_id, consented = relink_to_choice(world, rest, rest_provider)
    two = [company.id for company in consented.screen.companies[:2]]
    warned = links.choose_companies(consented.ref, CUSTOMER, two)
    assert isinstance(warned.screen, OverAccessScreen) and warned.screen.seen == 5
    assert world.link(onboarding_id)[0].provider == "nmbrs"
    done = links.confirm_companies(warned.ref, CUSTOMER)
    assert isinstance(done.screen, CompletedScreen)
    link, companies, _ = world.link(onboarding_id)
    assert (link.provider, companies) == (NMBRS_REST, two)


def test_a_consent_narrower_than_asked_changes_nothing_and_checking_again_is_consenting_again(
    world, rest, rest_provider
):
    links, onboarding_id, consented = relink_to_choice(world, rest, rest_provider, NARROW_LOGIN)
    assert isinstance(consented.screen, PermissionsScreen)
    again = links.check_again(consented.ref, CUSTOMER)
    assert isinstance(again.screen, ConsentScreen)
    link, _, token = world.link(onboarding_id)
    assert (link.provider, token) == ("nmbrs", DEMO_TOKEN)
    with world.storage.unit_of_work() as uow:
        assert uow.onboardings.get(onboarding_id).pending_token is None


def test_a_refused_consent_shows_the_consent_screen_again_saying_so(world):
    links = consent_links(world)
    onboarding_id = world.linked_client()
    opened = links.open_relink(onboarding_id, CUSTOMER)
    failed = links.relink_consent_failed(opened.ref, CUSTOMER, CONSENT_REFUSED)
    assert failed.screen == ConsentScreen(data=failed.screen.data, error=CONSENT_REFUSED)
    assert world.link(onboarding_id)[0].provider == "nmbrs"


def test_a_replayed_callback_changes_nothing(world, rest, rest_provider):
    links, onboarding_id, consented = relink_to_choice(world, rest, rest_provider)
    stale_ref = type(consented.ref)(consented.ref.onboarding_id, consented.ref.step - 1)
    replay = links.relink_consented(
        stale_ref, CUSTOMER, give_consent(rest, rest_provider, FINE_LOGIN)
    )
    assert replay.notice == "already_done"
    assert isinstance(replay.screen, CompanyChoiceScreen)


# --- through the consent flow's start and callback ---------------------------------------------


def browser_at_nmbrs(rest: RestSandbox, provider, login: str = FINE_LOGIN, *, approve=True):
    """The consent flow's start (the provider's authorize URL) and the browser at Nmbrs."""
    start = provider.authorization_start(redirect_uri=CALLBACK, state="a-state")
    return rest.consent(start.url, login, approve=approve), start.code_verifier


def test_the_consent_callback_exchanges_the_code_and_shows_the_matched_choice(world, rest):
    links = consent_links(world)
    onboarding_id = world.linked_client()
    opened = links.open_relink(onboarding_id, CUSTOMER)
    provider = links.consent_provider_for(opened.ref, CUSTOMER)
    assert provider is world.rest_provider
    back, verifier = browser_at_nmbrs(rest, provider)
    chosen = links.finish_consent(
        opened.ref, CUSTOMER, code=back["code"], error=None, code_verifier=verifier
    )
    assert isinstance(chosen.screen, CompanyChoiceScreen) and len(chosen.screen.preselected) == 5
    replayed = links.finish_consent(
        opened.ref, CUSTOMER, code=back["code"], error=None, code_verifier=verifier
    )
    assert replayed.notice == "already_done"
    assert world.link(onboarding_id)[0].provider == "nmbrs"


def test_a_consent_refused_in_the_browser_is_said_on_the_consent_screen(world, rest):
    links = consent_links(world)
    opened = links.open_relink(world.linked_client(), CUSTOMER)
    back, verifier = browser_at_nmbrs(rest, world.rest_provider, approve=False)
    assert back["error"] == "access_denied"
    refused = links.finish_consent(
        opened.ref, CUSTOMER, code=None, error=back["error"], code_verifier=verifier
    )
    assert isinstance(refused.screen, ConsentScreen) and refused.screen.error == CONSENT_REFUSED


def test_a_code_nmbrs_refuses_is_a_failed_exchange_and_changes_nothing(world, rest):
    links = consent_links(world)
    onboarding_id = world.linked_client()
    opened = links.open_relink(onboarding_id, CUSTOMER)
    _, verifier = browser_at_nmbrs(rest, world.rest_provider)
    failed = links.finish_consent(
        opened.ref, CUSTOMER, code="not-a-code", error=None, code_verifier=verifier
    )
    assert failed.screen.error == CONSENT_EXCHANGE_FAILED
    link, _, token = world.link(onboarding_id)
    assert (link.provider, token) == ("nmbrs", DEMO_TOKEN)


def test_a_consent_link_of_a_step_that_is_over_starts_nothing(world, rest):
    links = consent_links(world)
    opened = links.open_relink(world.linked_client(), CUSTOMER)
    links.relink_consent_failed(opened.ref, CUSTOMER, CONSENT_REFUSED)
    answer = links.consent_provider_for(opened.ref, CUSTOMER)
    assert answer.notice == "already_done"


def test_a_link_the_soap_end_marked_works_again_once_moved_by_consent(world, rest):
    onboarding_id = world.linked_client()
    ended = LinkMigration(
        unit_of_work=world.storage.unit_of_work,
        providers=Providers.only(world.provider),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        calendar=WorkingCalendar("Europe/Amsterdam"),
        clock=FixedClock(datetime(2027, 3, 2, 9, 0, tzinfo=UTC)),
    )
    assert ended.end_soap() == [world.link_id(onboarding_id)]
    links = consent_links(world)
    opened = links.open_relink(onboarding_id, CUSTOMER)
    consent = give_consent(rest, world.rest_provider, FINE_LOGIN)
    chosen = links.relink_consented(opened.ref, CUSTOMER, consent)
    ids = [company.id for company in chosen.screen.preselected]
    assert isinstance(links.choose_companies(chosen.ref, CUSTOMER, ids).screen, CompletedScreen)
    link, _, _ = world.link(onboarding_id)
    assert (link.provider, link.status, link.problem) == (NMBRS_REST, "active", None)
    # On the REST API it is no SOAP link the daily job marks any more.
    assert ended.end_soap() == []


class FixedClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


# --- through the consent flow (bot.usecases.consent): start link, /nmbrs/start, callback ------


def flow_for(world: World, links: LinkService) -> ConsentFlow:
    """The consent flow with the relink's purpose, as the composition root wires it."""
    flow = ConsentFlow(
        unit_of_work=world.storage.unit_of_work,
        cipher=world.storage.cipher,
        clock=SystemClock(),
        public_url="http://127.0.0.1:9",
        redirect_uri=CALLBACK,
    )
    flow.register(PURPOSE_RELINK, RelinkConsent(links))
    links.consents = flow
    return flow


def test_the_relinks_consent_screen_links_into_the_consent_flow_and_its_callback_moves_on(
    world, rest
):
    links = consent_links(world)
    flow = flow_for(world, links)
    onboarding_id = world.linked_client()
    opened = links.open_relink(onboarding_id, CUSTOMER)
    screen = opened.screen
    assert isinstance(screen, ConsentScreen) and screen.view_key
    token = parse_qs(urlsplit(screen.start_url).query)["t"][0]
    redirect = flow.start(token)
    assert isinstance(redirect, Redirect)
    back = rest.consent(redirect.url, FINE_LOGIN)
    finished = flow.callback(back["state"], code=back["code"], error=None)
    assert finished.purpose == PURPOSE_RELINK and finished.view_key == screen.view_key
    assert finished.page.status == 200
    chosen = finished.outcome.screen
    assert isinstance(chosen, CompanyChoiceScreen) and len(chosen.preselected) == 5
    assert chosen.approval is not None and chosen.approval.debtors
    replayed = flow.callback(back["state"], code=back["code"], error=None)
    assert replayed.outcome is None and replayed.page.status == 400
    with world.storage.unit_of_work() as uow:  # the used request is erased by its step
        assert uow.session.exec(select(ConsentRequest)).all() == []
    assert world.link(onboarding_id)[0].provider == "nmbrs"


def test_a_relink_start_link_of_a_step_that_is_over_starts_nothing(world, rest):
    links = consent_links(world)
    flow = flow_for(world, links)
    opened = links.open_relink(world.linked_client(), CUSTOMER)
    token = parse_qs(urlsplit(opened.screen.start_url).query)["t"][0]
    links.relink_consent_failed(opened.ref, CUSTOMER, CONSENT_REFUSED)
    answer = flow.start(token)
    assert isinstance(answer, PageAnswer) and answer.status == 400
