"""A wrong package choice can be undone: from the handoff back to the terms and the choice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.core import events
from bot.core.events import EventBus
from bot.core.screens import HandoffScreen, PreparationScreen, TermsScreen
from bot.settings import Settings
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from tests.storage.scratch import ScratchStorage
from tests.usecases.fakes import (
    CHANNEL,
    CUSTOMER,
    STRANGER,
    TOKEN,
    USERNAME,
    FakeClock,
    FakeMembership,
    FakeProvider,
    StoredOnboarding,
)

PHONE = "020 123 45 67"


@dataclass
class World(StoredOnboarding):
    storage: ScratchStorage
    onboarding_id: int
    service: OnboardingService
    provider: FakeProvider
    clock: FakeClock
    published: list[events.OnboardingEvent]

    def kinds(self) -> list[str]:
        return [event.kind for event in self.published]

    def hand_off(self, package: str = "loket") -> None:
        self.service.open(self.onboarding_id, CUSTOMER)
        self.service.accept_terms(self.ref(), CUSTOMER, accepted=True, package=package)


@pytest.fixture
def world():
    settings = Settings(_env_file=None, support_phone=PHONE, expire_after_days=14)
    published: list[events.OnboardingEvent] = []
    with ScratchStorage() as storage:
        provider, clock = FakeProvider(), FakeClock()
        service = OnboardingService(
            unit_of_work=storage.unit_of_work,
            providers=Providers.only(provider),
            membership=FakeMembership(),
            settings=settings,
            event_bus=EventBus([lambda uow, event: published.append(event)]),
            clock=clock,
        )
        invite = service.create_invite(
            client_name="Acme", channel_id=CHANNEL, team_id="T0CUSTOMER", started_by="U0MANAGER"
        )
        yield World(storage, invite.onboarding_id, service, provider, clock, published)


def test_a_handoff_for_another_package_offers_the_choice_again(world):
    world.hand_off()
    outcome = world.service.open(world.onboarding_id, CUSTOMER)
    assert outcome.screen == HandoffScreen("other_package", PHONE, can_choose_again=True)
    assert world.service.invite_status(world.onboarding_id).can_choose_again


def test_choosing_again_goes_back_to_the_terms_and_nmbrs_then_goes_on(world):
    world.hand_off("not_listed")
    outcome = world.service.choose_package_again(world.onboarding_id, CUSTOMER)
    assert isinstance(outcome.screen, TermsScreen)
    assert world.onboarding().state == "invited"
    assert outcome.invite is not None and outcome.invite.state == "invited"
    assert world.kinds()[-1] == "package_choice_reopened"
    assert world.published[-1].previous_package == "not_listed"  # type: ignore[attr-defined]
    outcome = world.service.accept_terms(world.ref(), CUSTOMER, accepted=True, package="nmbrs")
    assert isinstance(outcome.screen, PreparationScreen)
    world.service.acknowledge_preparation(world.ref(), CUSTOMER)
    world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token=TOKEN)
    assert world.onboarding().state == "credentials_verified"


def test_choosing_again_is_one_audited_transition_and_renews_the_invite_term(world):
    world.hand_off()
    world.clock.moment += timedelta(days=10)
    world.service.choose_package_again(world.onboarding_id, CUSTOMER)
    onboarding = world.onboarding()
    assert onboarding.expires_at == world.clock.now() + timedelta(days=14)
    with world.storage.unit_of_work() as uow:
        moves = [e.detail for e in uow.audit.for_onboarding(world.onboarding_id)]
    assert {"from": "handoff", "to": "invited", "event": "choose_again"} in moves


def test_a_double_click_goes_back_once_and_shows_the_terms_again(world):
    world.hand_off()
    world.service.choose_package_again(world.onboarding_id, CUSTOMER)
    outcome = world.service.choose_package_again(world.onboarding_id, CUSTOMER)
    assert isinstance(outcome.screen, TermsScreen)
    assert world.kinds().count("package_choice_reopened") == 1


def test_nmbrs_refusing_the_subscription_cannot_be_undone_by_another_choice(world):
    world.provider.accounts[USERNAME].no_subscription = True
    world.hand_off("nmbrs")
    world.service.acknowledge_preparation(world.ref(), CUSTOMER)
    world.service.submit_credentials(world.ref(), CUSTOMER, username=USERNAME, token=TOKEN)
    outcome = world.service.choose_package_again(world.onboarding_id, CUSTOMER)
    assert outcome.screen == HandoffScreen("no_subscription", PHONE, can_choose_again=False)
    assert world.onboarding().state == "handoff"


def test_no_way_back_once_another_onboarding_runs_in_the_channel(world):
    world.hand_off()
    world.service.create_invite(
        client_name="Acme", channel_id=CHANNEL, team_id="T0CUSTOMER", started_by="U0MANAGER"
    )
    outcome = world.service.choose_package_again(world.onboarding_id, CUSTOMER)
    assert outcome.screen == HandoffScreen("other_package", PHONE, can_choose_again=False)
    assert world.onboarding().state == "handoff"


def test_someone_outside_the_channel_cannot_go_back(world):
    world.hand_off()
    world.service.choose_package_again(world.onboarding_id, STRANGER)
    assert world.onboarding().state == "handoff"
