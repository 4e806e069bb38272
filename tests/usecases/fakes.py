"""Fakes of the ports the use cases depend on: a payroll provider with accounts in memory,
channel membership, a clock that stands still, and a unit of work that counts its commits; and
what a test world reads of the onboarding it drives."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bot.clock import SystemClock
from bot.core.events import EventBus
from bot.core.model import Actor, StepRef
from bot.core.payroll import AccountCheck, NoSubscription, ProviderCompany, WrongCredentials
from bot.reports import StatusNotices
from bot.schedule import ReminderPolicy
from bot.settings import Settings
from bot.usecases.manager import ManagerTools
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from payroll.nmbrs_soap.model import DATA_READ, REQUIRED_PERMISSIONS, group_by_service
from storage.crypto import TokenCipher, generate_key
from storage.models import Onboarding
from storage.repository import SqlUnitOfWork, unit_of_work_factory

if TYPE_CHECKING:
    from tests.storage.scratch import ScratchStorage

CHANNEL = "C0SHARED"
CUSTOMER = Actor(user_id="U0CUSTOMER", team_id="T0CUSTOMER")
STRANGER = Actor(user_id="U0STRANGER", team_id="T0CUSTOMER")
USERNAME = "loon@acme.nl"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
COMPANIES = [
    ProviderCompany(ref="11", number=1, name="Acme BV"),
    ProviderCompany(ref="12", number=2, name="Acme Retail"),
]


@dataclass
class FakeAccount:
    token: str
    domain: str = "acme"
    companies: list[ProviderCompany] = field(default_factory=lambda: list(COMPANIES))
    missing: list[str] = field(default_factory=list)
    no_subscription: bool = False


class FakeProvider:
    name = "nmbrs"
    required_access = REQUIRED_PERMISSIONS
    data_read = DATA_READ

    def __init__(self) -> None:
        self.accounts = {USERNAME: FakeAccount(token=TOKEN)}
        self.failure: Exception | None = None
        self.checks: list[str] = []
        self.before_guids: threading.Barrier | None = None

    def describe_access(self, access):
        return group_by_service(access)

    def check_account(self, connection, *, to_link=()):
        self.checks.append(connection.account)
        if self.failure is not None:
            raise self.failure
        account = self.accounts.get(connection.account)
        if account is None or account.token != connection.secret:
            raise WrongCredentials("invalid authentication")
        if account.no_subscription:
            raise NoSubscription("no valid subscription")
        return AccountCheck(
            environment=account.domain,
            companies=list(account.companies),
            missing_access=list(account.missing),
        )

    def companies_to_link(self, connection, companies):
        if self.before_guids is not None:
            self.before_guids.wait(timeout=5)
        return [replace(company, guid=f"guid-{company.ref}") for company in companies]


class FakeMembership:
    def __init__(self) -> None:
        self.members = {CHANNEL: {"U0CUSTOMER", "U0MANAGER"}}

    def is_member(self, channel_id: str, user_id: str) -> bool:
        return user_id in self.members.get(channel_id, set())


class FakeClock:
    def __init__(self) -> None:
        self.moment = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


def counting_commits(
    unit_of_work: Callable[[], SqlUnitOfWork],
) -> tuple[Callable[[], SqlUnitOfWork], list[int]]:
    """A unit-of-work factory that records every commit (one entry per transaction that
    committed), to show that a use case is one transaction."""
    commits: list[int] = []

    def counted() -> SqlUnitOfWork:
        uow = unit_of_work()
        commit = uow.commit

        def counting_commit() -> None:
            commit()
            commits.append(1)

        uow.commit = counting_commit  # type: ignore[method-assign]
        return uow

    return counted, commits


class StoredOnboarding:
    """What a test world (its `storage`, its `onboarding_id`) reads of its onboarding."""

    storage: ScratchStorage
    onboarding_id: int

    def ref(self) -> StepRef:
        """The step counter as a freshly drawn view would carry it."""
        with self.storage.unit_of_work() as uow:
            onboarding = uow.onboardings.require(self.onboarding_id)
            return StepRef(self.onboarding_id, onboarding.step_data.get("step", 0))

    def onboarding(self) -> Onboarding:
        with self.storage.unit_of_work() as uow:
            return uow.onboardings.require(self.onboarding_id)


class Everyone:
    """Channel membership where everyone is a member."""

    def is_member(self, channel_id: str, user_id: str) -> bool:
        return True


def manager_tools(
    engine: Engine, *, settings: Settings, policy: ReminderPolicy, status_channel: str
) -> ManagerTools:
    """The account manager's use cases on `engine`, with their status reports to
    `status_channel` and an onboarding service that calls no Nmbrs."""
    uow = unit_of_work_factory(engine, TokenCipher([generate_key()]))
    reports = StatusNotices(status_channel=status_channel, language="nl", policy=policy)
    service = OnboardingService(
        unit_of_work=uow,
        providers=Providers.only(FakeProvider()),
        membership=Everyone(),
        settings=settings,
        event_bus=EventBus([reports]),
    )
    return ManagerTools(
        unit_of_work=uow, service=service, reports=reports, policy=policy, clock=SystemClock()
    )
