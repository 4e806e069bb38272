"""An onboarding on the Nmbrs REST API: scratch storage, the REST provider pointed at the fake
Nmbrs over real HTTP, and a browser stand-in that follows a consent screen's link, consents at
the fake Nmbrs and comes back to the callback (all through the use cases' public interface)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.core import events
from bot.core.events import EventBus
from bot.core.model import Actor
from bot.core.screens import ConsentScreen, Outcome
from bot.settings import Settings
from bot.usecases.consent import ConsentFlow, Finished, PageAnswer, Redirect
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    SandboxHandle,
)
from tests.payroll.nmbrs_rest.fixtures import demo_rest_provider
from tests.storage.scratch import ScratchStorage
from tests.usecases.fakes import CHANNEL, CUSTOMER, FakeClock, FakeMembership, StoredOnboarding

PUBLIC_URL = "https://onboarding.example.nl"
REDIRECT_URI = PUBLIC_URL + "/nmbrs/callback"


def rest_settings(nmbrs: SandboxHandle) -> Settings:
    return Settings(
        _env_file=None,
        nmbrs_api="rest",
        public_url=PUBLIC_URL,
        nmbrs_rest_url=nmbrs.base_url,
        nmbrs_identity_url=nmbrs.base_url,
        nmbrs_client_id=DEMO_CLIENT_ID,
        nmbrs_client_secret=DEMO_CLIENT_SECRET,
        nmbrs_subscription_key=DEMO_SUBSCRIPTION_KEY,
        terms_url="https://example.com/terms",
        support_phone="020 123 45 67",
    )


def rest_provider(nmbrs: SandboxHandle, *, ask_user_info: bool = False) -> RestNmbrsProvider:
    """The onboarding's REST provider: it retries without waiting."""
    return demo_rest_provider(nmbrs, ask_user_info=ask_user_info, sleep=lambda seconds: None)


@pytest.fixture(scope="module")
def rest_redirect_uri() -> str:
    """The fake Nmbrs (tests/payroll/nmbrs_rest/fixtures.py) sends the consent back to the bot."""
    return REDIRECT_URI


@dataclass
class ConsentWorld(StoredOnboarding):
    service: OnboardingService
    storage: ScratchStorage
    nmbrs: SandboxHandle
    membership: FakeMembership
    clock: FakeClock
    onboarding_id: int
    published: list[events.OnboardingEvent] = field(default_factory=list)

    @property
    def consents(self) -> ConsentFlow:
        assert self.service.consents is not None
        return self.service.consents

    def to_consent(self, actor: Actor = CUSTOMER) -> ConsentScreen:
        """Terms accepted, preparation read: the consent screen, drawn for `actor`."""
        self.service.open(self.onboarding_id, actor)
        self.service.accept_terms(self.ref(), actor, accepted=True, package="nmbrs")
        outcome = self.service.acknowledge_preparation(self.ref(), actor)
        assert isinstance(outcome.screen, ConsentScreen), outcome.screen
        return outcome.screen

    def start(self, screen: ConsentScreen) -> Redirect | PageAnswer:
        """The browser follows the screen's link to /nmbrs/start."""
        return self.consents.start(start_token(screen.start_url))

    def at_nmbrs(self, screen: ConsentScreen, login: str, *, approve: bool = True) -> dict:
        """Start, then log in and approve (or refuse) at the fake Nmbrs: the callback's query."""
        answer = self.start(screen)
        assert isinstance(answer, Redirect), answer
        return self.nmbrs.consent(answer.url, login, approve=approve)

    def back(self, query: dict) -> Finished:
        """The browser comes back to /nmbrs/callback with `query`."""
        return self.consents.callback(
            query.get("state", ""), code=query.get("code"), error=query.get("error")
        )

    def consent(self, screen: ConsentScreen, login: str, *, approve: bool = True) -> Finished:
        return self.back(self.at_nmbrs(screen, login, approve=approve))


def start_token(start_url: str) -> str:
    parts = urlsplit(start_url)
    assert parts.path == "/nmbrs/start"
    return parse_qs(parts.query)["t"][0]


def outcome_of(finished: Finished) -> Outcome:
    assert finished.outcome is not None, finished
    return finished.outcome


@contextmanager
def consent_world_with(nmbrs: SandboxHandle, provider: RestNmbrsProvider) -> Iterator[ConsentWorld]:
    """A ConsentWorld whose onboarding uses `provider` (closed at the end)."""
    settings = rest_settings(nmbrs)
    published: list[events.OnboardingEvent] = []
    with ScratchStorage() as storage:
        membership, clock = FakeMembership(), FakeClock()
        service = OnboardingService(
            unit_of_work=storage.unit_of_work,
            providers=Providers.only(provider),
            membership=membership,
            settings=settings,
            event_bus=EventBus([lambda uow, event: published.append(event)]),
            clock=clock,
            cipher=storage.cipher,
        )
        invite = service.create_invite(
            client_name="Acme", channel_id=CHANNEL, team_id="T0CUSTOMER", started_by="U0MANAGER"
        )
        yield ConsentWorld(
            service, storage, nmbrs, membership, clock, invite.onboarding_id, published
        )
    provider.close()


@pytest.fixture
def consent_world(rest_nmbrs: SandboxHandle) -> Iterator[ConsentWorld]:
    with consent_world_with(rest_nmbrs, rest_provider(rest_nmbrs)) as world:
        yield world
