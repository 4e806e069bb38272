"""REST grants over time, against the fake Nmbrs over real HTTP, on SQLite and PostgreSQL: one
refresh of a link at a time across connections, a valid access token for the sync jobs, the
daily renewal with its verification, and a refused grant marking the link once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.clock import WorkingCalendar
from bot.core.events import EventBus
from bot.core.model import Actor
from bot.core.payroll import Connection, WrongCredentials
from bot.core.progress import OnboardingProgress
from bot.reports import LinkEventNotices, StatusNotices
from bot.schedule import ReminderPolicy
from bot.settings import Settings
from bot.usecases.grants import GrantKeeper
from bot.usecases.link_service import LinkService
from bot.usecases.maintenance import MARKED, VERIFIED, LinkMaintenance
from bot.usecases.manager import ManagerTools, Unlinked
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from payroll.nmbrs_rest.identity import NmbrsIdentity
from payroll.nmbrs_rest.model import Grant
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    FINE_LOGIN,
    SandboxHandle,
    html_error,
)
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine, upgrade
from storage.links import LinkNotActive, LinkReader
from storage.models import OutboxMessage
from storage.repository import UnitOfWorkFactory, unit_of_work_factory
from tests.payroll.nmbrs_rest.fixtures import demo_rest_provider
from tests.slack_drawn import draw_row
from tests.storage.scratch import completed_onboarding
from tests.usecases.consent_world import REDIRECT_URI

STATUS = "C0STATUS"


@dataclass
class SandboxClock:
    """The bot's clock and the provider's, both the sandbox's (time plus its offset)."""

    nmbrs: SandboxHandle

    def epoch(self) -> float:
        return self.nmbrs.state.now()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), tz=UTC)


@dataclass
class Setting:
    nmbrs: SandboxHandle
    uow: UnitOfWorkFactory
    clock: SandboxClock
    provider: RestNmbrsProvider
    maintenance: LinkMaintenance
    cipher: TokenCipher

    @property
    def grants(self) -> GrantKeeper:
        return self.maintenance.grants

    def grant(self) -> Grant:
        identity = NmbrsIdentity(
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            identity_url=self.nmbrs.base_url,
            clock=self.clock.epoch,
        )
        request = identity.authorization_request(redirect_uri=REDIRECT_URI, state="a-state")
        back = self.nmbrs.consent(request.url, FINE_LOGIN)
        return identity.exchange_code(
            back["code"], redirect_uri=REDIRECT_URI, code_verifier=request.code_verifier
        )

    def rest_link(self) -> tuple[int, Grant]:
        grant = self.grant()
        check = self.provider.client.check(grant.access_token, grant.scopes)
        with self.uow() as unit:
            onboarding = completed_onboarding(unit, conversation_id="C0")
            link = unit.links.create(
                onboarding=onboarding,
                username="fine@example.nl",
                token=grant.to_secret(),
                domain=",".join(d.debtor_id for d in check.debtors),
                companies=[_company(c) for c in check.companies[:1]],
                provider="nmbrs-rest",
            )
            link.created_at = self.clock.now()
            unit.commit()
            assert link.id is not None
            return link.id, grant

    def stored_grant(self, link_id: int) -> Grant:
        with self.uow() as unit:
            token = unit.links.token(unit.links.require(link_id))
        assert token is not None
        return Grant.from_secret(token)


@dataclass(frozen=True)
class _Linked:
    id: str
    number: int
    name: str
    guid: str | None


def _company(company) -> _Linked:  # type: ignore[no-untyped-def]
    return _Linked(company.company_id, int(company.number), company.name, company.company_id)


@pytest.fixture
def setting(database_url: str, rest_nmbrs: SandboxHandle) -> Iterator[Setting]:
    engine = make_engine(database_url)
    upgrade(engine)
    clock = SandboxClock(rest_nmbrs)
    provider = demo_rest_provider(rest_nmbrs, clock=clock.epoch)
    cipher = TokenCipher([generate_key()])
    uow = unit_of_work_factory(engine, cipher)
    maintenance = LinkMaintenance(
        unit_of_work=uow,
        providers=Providers.only(provider),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        settings=Settings(_env_file=None, status_channel=STATUS),
        clock=clock,
    )
    yield Setting(rest_nmbrs, uow, clock, provider, maintenance, cipher)
    provider.close()
    engine.dispose()


def _token_calls(nmbrs: SandboxHandle) -> int:
    return len(nmbrs.calls_to("token"))


@pytest.fixture(params=["one process", "two processes"])
def two_keepers(request, setting: Setting, database_url: str) -> Iterator[list[GrantKeeper]]:
    """Two keepers of the same links: one process's (one engine, two connections from its pool),
    or two processes' (an engine and a provider each)."""
    if request.param == "one process":
        yield [setting.grants, setting.grants]
        return
    engine = make_engine(database_url)
    provider = demo_rest_provider(setting.nmbrs, clock=setting.clock.epoch)
    other = GrantKeeper(
        unit_of_work=unit_of_work_factory(engine, setting.cipher),
        providers=Providers.only(provider),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        clock=setting.clock,
    )
    yield [setting.grants, other]
    provider.close()
    engine.dispose()


def test_two_refreshes_of_one_link_at_once_make_one_call_and_both_get_a_working_token(
    setting, two_keepers
):
    link_id, grant = setting.rest_link()
    setting.nmbrs.advance(3600 - 60)  # a minute left: both must refresh
    setting.nmbrs.clear_calls()
    # Nmbrs answers slowly, so the second arrives while the first holds the link.
    setting.nmbrs.latency = 0.3
    start = threading.Barrier(2)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def read(keeper: GrantKeeper) -> None:
        start.wait()
        try:
            tokens.append(keeper.access_token(link_id))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=read, args=(keeper,)) for keeper in two_keepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    setting.nmbrs.latency = 0.0
    assert not errors
    assert _token_calls(setting.nmbrs) == 1, "one refresh, never a rotated token sent again"
    assert tokens[0] == tokens[1] != grant.access_token
    assert setting.stored_grant(link_id).access_token == tokens[0]
    # Both work: the grant is alive (a reused refresh token would have killed it).
    current = setting.grants.connection(link_id)
    check = setting.provider.check_account(current.connection)
    assert check.companies and not check.missing_access


def test_the_reader_hands_a_valid_access_token_refreshing_within_five_minutes(setting):
    link_id, grant = setting.rest_link()
    reader = LinkReader(setting.uow, reader="payroll-sync", tokens=setting.grants)
    assert reader.read(link_id).token == grant.access_token
    assert _token_calls(setting.nmbrs) == 1  # only the consent's code exchange
    setting.nmbrs.advance(3600 - 4 * 60)
    link = reader.read(link_id, purpose="sync")
    assert link.token != grant.access_token
    assert link.token == setting.stored_grant(link_id).access_token
    assert link.provider == "nmbrs-rest"
    assert link.token not in repr(link) and link.token not in str(link)
    with setting.uow() as unit:
        reads = [e for e in unit.audit.for_link(link_id) if e.kind == "link_credentials_read"]
    assert len(reads) == 2


def test_a_reader_without_a_token_source_does_not_hand_out_a_rest_grant(setting):
    link_id, _grant = setting.rest_link()
    with pytest.raises(RuntimeError):
        LinkReader(setting.uow, reader="payroll-sync").read(link_id)


def test_the_daily_renewal_refreshes_grants_renewed_over_three_days_ago_and_verifies_them(
    setting,
):
    old_id, old_grant = setting.rest_link()
    setting.nmbrs.advance(2 * 86400)
    recent_id, recent_grant = setting.rest_link()
    setting.nmbrs.advance(2 * 86400)
    setting.nmbrs.clear_calls()
    results = setting.maintenance.renew_grants()
    assert [(r.link_id, r.outcome) for r in results] == [(old_id, VERIFIED)]
    assert _token_calls(setting.nmbrs) == 1
    assert setting.stored_grant(old_id).refresh_token != old_grant.refresh_token
    assert setting.stored_grant(recent_id).refresh_token == recent_grant.refresh_token
    with setting.uow() as unit:
        renewed = unit.links.require(old_id)
        assert renewed.verified_at is not None and renewed.grant_renewed_at is not None
    # Renewed now: the next day's run leaves it.
    setting.nmbrs.advance(86400)
    assert [r.link_id for r in setting.maintenance.renew_grants()] == [recent_id]


def test_a_refused_grant_marks_the_link_once_and_is_never_refreshed_again(setting):
    link_id, grant = setting.rest_link()
    setting.provider.identity.revoke(grant)  # the customer revoked us in Nmbrs
    setting.nmbrs.advance(4 * 86400)
    first = setting.maintenance.renew_grants()
    assert [(r.outcome, r.reason, r.reported) for r in first] == [
        (MARKED, "wrong_credentials", True)
    ]
    with setting.uow() as unit:
        link = unit.links.require(link_id)
        assert link.status == "needs_relink"
        notices = list(unit.session.exec(select(OutboxMessage)))
    assert len(notices) >= 1
    setting.nmbrs.clear_calls()
    assert setting.maintenance.renew_grants() == []
    setting.maintenance.verify_all()
    with pytest.raises(LinkNotActive):
        setting.grants.access_token(link_id)
    assert _token_calls(setting.nmbrs) == 0, "a refused grant is not refreshed again"
    with setting.uow() as unit:
        assert len(list(unit.session.exec(select(OutboxMessage)))) == len(notices)


def test_refreshing_logs_no_token(setting, caplog):
    link_id, grant = setting.rest_link()
    setting.nmbrs.advance(3600)
    with caplog.at_level(logging.DEBUG):
        token = setting.grants.access_token(link_id)
        setting.provider.identity.revoke(setting.stored_grant(link_id))
        setting.nmbrs.advance(3600)
        with pytest.raises(LinkNotActive):
            setting.grants.access_token(link_id)
    renewed = setting.stored_grant(link_id)
    text = caplog.text
    for secret in (grant.access_token, grant.refresh_token, token, renewed.refresh_token):
        assert secret not in text


def test_the_renewal_moment_is_recorded_in_utc(setting):
    link_id, _grant = setting.rest_link()
    setting.nmbrs.advance(3600)
    before = setting.clock.now()
    setting.grants.access_token(link_id)
    with setting.uow() as unit:
        renewed_at = unit.links.require(link_id).grant_renewed_at
    assert renewed_at is not None and renewed_at - before < timedelta(seconds=5)


# --- unlink ----------------------------------------------------------------------------------


class Everyone:
    def is_member(self, channel_id: str, user_id: str) -> bool:
        return True


def manager_tools(setting: Setting) -> ManagerTools:
    policy = ReminderPolicy(calendar=WorkingCalendar("Europe/Amsterdam"))
    reports = StatusNotices(status_channel=STATUS, language="nl", policy=policy)
    settings = Settings(_env_file=None, status_channel=STATUS)
    service = OnboardingService(
        unit_of_work=setting.uow,
        providers=Providers.only(setting.provider),
        membership=Everyone(),
        settings=settings,
        event_bus=EventBus([reports]),
    )
    return ManagerTools(
        unit_of_work=setting.uow,
        service=service,
        reports=reports,
        policy=policy,
        clock=setting.clock,
        providers=Providers.only(setting.provider),
    )


def reports_sent(setting: Setting) -> list[str]:
    with setting.uow() as unit:
        return [row.kind for row in unit.session.exec(select(OutboxMessage))]


def test_unlinking_revokes_the_grant_at_nmbrs_then_erases_it(setting, caplog):
    link_id, grant = setting.rest_link()
    with caplog.at_level(logging.DEBUG):
        assert manager_tools(setting).unlink(link_id, manager="U0MANAGER") == Unlinked(
            "Bakkerij De Korst"
        )
    assert len(setting.nmbrs.calls_to("revocation")) == 1
    with setting.uow() as unit:
        link = unit.links.require(link_id)
        assert link.encrypted_secret is None and link.revoked_at is not None
    # Nmbrs honours the grant no more.
    with pytest.raises(WrongCredentials):
        setting.provider.refresh(Connection("fine", grant.to_secret()))
    assert reports_sent(setting)[-1] == "report.link_unlinked"
    for secret in (grant.access_token, grant.refresh_token):
        assert secret not in caplog.text


def test_unlinking_while_nmbrs_is_down_erases_the_grant_and_says_the_revocation_failed(
    setting, caplog
):
    link_id, grant = setting.rest_link()
    setting.nmbrs.fail(html_error(503), "revocation")
    with caplog.at_level(logging.DEBUG):
        unlinked = manager_tools(setting).unlink(link_id, manager="U0MANAGER")
    assert unlinked == Unlinked("Bakkerij De Korst", revocation_failed=True)
    with setting.uow() as unit:
        assert unit.links.require(link_id).encrypted_secret is None
    assert reports_sent(setting)[-1] == "report.link_unlinked_not_revoked"
    with setting.uow() as unit:
        rows = list(unit.session.exec(select(OutboxMessage)))
    text = str(draw_row(rows[-1]).payload)
    assert "niet bereikbaar" in text and "intrekken in Nmbrs" in text
    for secret in (grant.access_token, grant.refresh_token):
        assert secret not in caplog.text


def test_the_verification_of_a_rest_link_refreshes_its_expired_access_token_first(setting):
    link_id, grant = setting.rest_link()
    setting.nmbrs.advance(2 * 3600)  # the consent's access token has expired
    setting.nmbrs.clear_calls()
    results = setting.maintenance.verify_all()
    assert [(r.link_id, r.outcome) for r in results] == [(link_id, VERIFIED)]
    assert _token_calls(setting.nmbrs) == 1
    assert setting.stored_grant(link_id).access_token != grant.access_token


def test_a_rest_link_whose_grant_was_refused_is_not_verified_again(setting):
    link_id, grant = setting.rest_link()
    setting.provider.identity.revoke(grant)
    setting.nmbrs.advance(2 * 3600)
    first = setting.maintenance.verify_all()
    assert [(r.outcome, r.reason, r.reported) for r in first] == [
        (MARKED, "wrong_credentials", True)
    ]
    setting.nmbrs.clear_calls()
    again = setting.maintenance.verify_all()
    assert [(r.outcome, r.reason) for r in again] == [("skipped", "wrong_credentials")]
    assert setting.nmbrs.calls == []


def test_a_company_change_of_a_rest_link_lists_with_a_refreshed_access_token(setting):
    link_id, grant = setting.rest_link()
    with setting.uow() as unit:
        onboarding_id = unit.links.require(link_id).onboarding_id
    settings = Settings(_env_file=None, status_channel=STATUS)
    policy = ReminderPolicy(calendar=WorkingCalendar("Europe/Amsterdam"))
    service = LinkService(
        unit_of_work=setting.uow,
        providers=Providers.only(setting.provider),
        membership=Everyone(),
        settings=settings,
        event_bus=EventBus([]),
        reports=StatusNotices(status_channel=STATUS, language="nl", policy=policy),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        clock=setting.clock,
    )
    setting.nmbrs.advance(2 * 3600)
    setting.nmbrs.clear_calls()
    outcome = service.open_companies(onboarding_id, Actor("U0CUSTOMER", team_id="T0CUSTOMER"))
    assert _token_calls(setting.nmbrs) == 1
    assert setting.nmbrs.calls_to("companies") or setting.nmbrs.calls_to("debtor_companies")
    with setting.uow() as unit:
        progress = OnboardingProgress.from_json(unit.onboardings.require(onboarding_id).step_data)
    assert progress.link_session is not None and progress.link_session.seen
    assert outcome.screen is not None


def test_the_customer_removing_a_rest_link_revokes_its_grant_at_nmbrs(setting):
    link_id, grant = setting.rest_link()
    with setting.uow() as unit:
        onboarding_id = unit.links.require(link_id).onboarding_id
    policy = ReminderPolicy(calendar=WorkingCalendar("Europe/Amsterdam"))
    service = LinkService(
        unit_of_work=setting.uow,
        providers=Providers.only(setting.provider),
        membership=Everyone(),
        settings=Settings(_env_file=None, status_channel=STATUS),
        event_bus=EventBus([]),
        reports=StatusNotices(status_channel=STATUS, language="nl", policy=policy),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        clock=setting.clock,
    )
    result = service.remove_link(onboarding_id, Actor("U0CUSTOMER", team_id="T0CUSTOMER"))
    assert result.kind == "removed"
    assert len(setting.nmbrs.calls_to("revocation")) == 1
    with pytest.raises(WrongCredentials):
        setting.provider.refresh(Connection("fine", grant.to_secret()))
    assert "report.link_unlinked" in reports_sent(setting)
