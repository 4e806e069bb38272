"""Every invite the bot posted follows the onboarding; a re-check tells what it found; companies
another client linked already are flagged. On scratch storage with a fake payroll provider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.core import events
from bot.core.events import EventBus
from bot.core.flow import State
from bot.core.invite import SUPERSEDED_REPLACED, SUPERSEDED_RESENT, StepIndicator
from bot.core.model import Actor, InviteStatus
from bot.core.notices import from_values
from bot.core.screens import CompanyChoiceScreen, CompletedScreen, PermissionsScreen
from bot.outbox import stored_notice
from bot.settings import Settings
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from storage.models import OutboxMessage
from tests.storage.scratch import ScratchStorage
from tests.usecases.fakes import (
    CHANNEL,
    CUSTOMER,
    TOKEN,
    USERNAME,
    FakeClock,
    FakeMembership,
    FakeProvider,
)

MANAGER = "U0MANAGER"


class World:
    def __init__(self, storage: ScratchStorage, clock: FakeClock, provider: FakeProvider):
        self.storage, self.clock, self.provider = storage, clock, provider
        self.published: list[events.OnboardingEvent] = []
        self.service = OnboardingService(
            unit_of_work=storage.unit_of_work,
            providers=Providers.only(provider),
            membership=FakeMembership(),
            settings=Settings(_env_file=None, terms_url="https://example.com/terms"),
            event_bus=EventBus([lambda uow, event: self.published.append(event)]),
            clock=clock,
        )

    def invite(self, name: str = "Acme", *, channel: str = CHANNEL) -> int:
        status = self.service.create_invite(
            client_name=name, channel_id=channel, team_id="T0CUSTOMER", started_by=MANAGER
        )
        return status.onboarding_id

    def post(self, onboarding_id: int, ts: str, *, channel: str = CHANNEL) -> None:
        self.clock.moment += timedelta(minutes=1)
        self.service.record_invite(onboarding_id, channel_id=channel, message_ts=ts)

    def ref(self, onboarding_id: int):  # type: ignore[no-untyped-def]
        return self.service.open(onboarding_id, CUSTOMER).ref

    def to_companies(self, onboarding_id: int) -> None:
        self.service.open(onboarding_id, CUSTOMER)
        self.service.accept_terms(self.ref(onboarding_id), CUSTOMER, accepted=True, package="nmbrs")
        self.service.acknowledge_preparation(self.ref(onboarding_id), CUSTOMER)
        self.service.submit_credentials(
            self.ref(onboarding_id), CUSTOMER, username=USERNAME, token=TOKEN
        )

    def redraws(self) -> dict[str, list[InviteStatus]]:
        """The queued invite redraws, per message, in order."""
        with self.storage.unit_of_work() as uow:
            rows = uow.session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "invite_update")
                .order_by(OutboxMessage.id)
            ).all()
        drawn: dict[str, list[InviteStatus]] = {}
        for row in rows:
            notice = stored_notice(row)
            assert notice.updates is not None
            status = from_values(InviteStatus, notice.values["status"])
            drawn.setdefault(notice.updates, []).append(status)
        return drawn

    def kinds(self) -> list[str]:
        return [event.kind for event in self.published]


@pytest.fixture
def world():
    with ScratchStorage() as storage:
        yield World(storage, FakeClock(), FakeProvider())


def test_a_resent_invite_redraws_the_copy_before_it_as_replaced(world):
    onboarding_id = world.invite()
    world.post(onboarding_id, "1.1")
    assert world.redraws() == {}

    world.post(onboarding_id, "1.2")
    [older] = world.redraws()["1.1"]
    assert older.superseded == SUPERSEDED_RESENT and older.message_ts == "1.1"
    assert "1.2" not in world.redraws()


def test_posting_the_same_message_again_queues_nothing(world):
    onboarding_id = world.invite()
    world.post(onboarding_id, "1.1")
    world.post(onboarding_id, "1.2")
    world.post(onboarding_id, "1.2")
    assert [len(copies) for copies in world.redraws().values()] == [1]


def test_a_cancelled_onboarding_redraws_every_copy_as_stopped_once(world):
    onboarding_id = world.invite()
    world.post(onboarding_id, "1.1")
    world.post(onboarding_id, "1.2")
    world.service.cancel(onboarding_id, Actor(MANAGER))

    drawn = world.redraws()
    assert [copy.state for copy in drawn["1.1"]] == [State.INVITED, State.CANCELLED]
    assert [copy.state for copy in drawn["1.2"]] == [State.CANCELLED]
    assert drawn["1.2"][0].superseded is None


def test_a_replaced_onboarding_says_so_on_every_copy(world):
    onboarding_id = world.invite()
    world.post(onboarding_id, "1.1")
    world.service.replace_invite(
        onboarding_id,
        client_name="Acme (tweede vestiging)",
        channel_id=CHANNEL,
        team_id="T0CUSTOMER",
        started_by=MANAGER,
    )
    [copy] = world.redraws()["1.1"]
    assert copy.state == State.CANCELLED and copy.superseded == SUPERSEDED_REPLACED


def test_an_expired_onboarding_redraws_every_copy(world):
    onboarding_id = world.invite()
    world.post(onboarding_id, "1.1")
    world.post(onboarding_id, "1.2")
    world.service.expire(onboarding_id)
    drawn = world.redraws()
    assert drawn["1.1"][-1].state == drawn["1.2"][-1].state == State.EXPIRED


def test_the_invite_names_the_account_manager_and_the_contact(world):
    status = world.service.create_invite(
        client_name="Acme",
        channel_id=CHANNEL,
        team_id="T0CUSTOMER",
        started_by=MANAGER,
        contact_user_id="U0JAN",
    )
    assert (status.started_by, status.contact_user_id) == (MANAGER, "U0JAN")


def test_with_permissions_off_the_invite_says_what_waits_for_the_customer(world):
    world.provider.accounts[USERNAME].missing = ["CompanyService.WageTax_GetXML"]
    onboarding_id = world.invite()
    world.to_companies(onboarding_id)
    status = world.service.invite_status(onboarding_id)
    assert (status.waiting, status.waiting_count) == ("permissions", 1)


def test_a_re_check_that_finds_nothing_changed_says_when_and_reports_nothing_new(world):
    world.provider.accounts[USERNAME].missing = ["CompanyService.WageTax_GetXML"]
    onboarding_id = world.invite()
    world.to_companies(onboarding_id)
    assert world.kinds().count("permissions_missing") == 1

    world.clock.moment += timedelta(minutes=5)
    outcome = world.service.check_again(world.ref(onboarding_id), CUSTOMER)
    assert isinstance(outcome.screen, PermissionsScreen)
    unchanged_at = outcome.screen.unchanged_at
    assert unchanged_at is not None
    # 10:05 UTC on 3 March is 11:05 in Amsterdam.
    assert (unchanged_at.hour, unchanged_at.minute) == (11, 5)
    assert world.kinds().count("permissions_missing") == 1


def test_a_re_check_that_finds_a_change_reports_it(world):
    world.provider.accounts[USERNAME].missing = ["CompanyService.WageTax_GetXML"]
    onboarding_id = world.invite()
    world.to_companies(onboarding_id)
    world.provider.accounts[USERNAME].missing = [
        "CompanyService.WageTax_GetXML",
        "EmployeeService.Schedule_Get",
    ]
    outcome = world.service.check_again(world.ref(onboarding_id), CUSTOMER)
    assert isinstance(outcome.screen, PermissionsScreen)
    assert outcome.screen.unchanged_at is None
    assert world.kinds().count("permissions_missing") == 2


def test_the_modal_knows_its_step_on_the_main_line(world):
    onboarding_id = world.invite()
    assert world.service.open(onboarding_id, CUSTOMER).step == StepIndicator(1, 5)
    world.to_companies(onboarding_id)
    assert world.service.open(onboarding_id, CUSTOMER).step == StepIndicator(3, 5)


def test_companies_another_client_linked_are_flagged_to_customer_and_account_manager(world):
    first = world.invite("Bakkerij de Vries B.V.")
    world.to_companies(first)
    world.service.choose_companies(world.ref(first), CUSTOMER, ["11", "12"])
    assert "companies_already_linked" not in world.kinds()

    second = world.invite("Smith's Bakery")
    world.to_companies(second)
    choice = world.service.open(second, CUSTOMER).screen
    assert isinstance(choice, CompanyChoiceScreen)
    assert [company.name for company in choice.already_linked] == ["Acme BV", "Acme Retail"]
    outcome = world.service.choose_companies(world.ref(second), CUSTOMER, ["11", "12"])

    assert isinstance(outcome.screen, CompletedScreen)
    assert outcome.screen.already_linked == 2
    [warning] = [e for e in world.published if e.kind == "companies_already_linked"]
    assert warning.manager == MANAGER  # type: ignore[attr-defined]
    assert {c["other_client"] for c in warning.companies} == {"Bakkerij de Vries B.V."}  # type: ignore[attr-defined]
    # Reopened later, the completed screen still says it.
    assert world.service.open(second, CUSTOMER).screen.already_linked == 2  # type: ignore[union-attr]


def test_companies_of_an_unlinked_link_are_not_flagged(world):
    first = world.invite("Bakkerij de Vries B.V.")
    world.to_companies(first)
    world.service.choose_companies(world.ref(first), CUSTOMER, ["11", "12"])
    with world.storage.unit_of_work() as uow:
        link = uow.links.for_onboarding(first)
        uow.links.unlink(link, actor=MANAGER, at=world.clock.now())
        uow.commit()

    second = world.invite("Smith's Bakery")
    world.to_companies(second)
    assert world.service.open(second, CUSTOMER).screen.already_linked == ()  # type: ignore[union-attr]
    outcome = world.service.choose_companies(world.ref(second), CUSTOMER, ["11", "12"])
    assert outcome.screen.already_linked == 0  # type: ignore[union-attr]
