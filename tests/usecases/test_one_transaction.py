"""One use case is one transaction: what the customer or the account manager does is committed
together with its audit, its reports and the account manager's notice, or not at all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from bot.core.events import EventBus, LinkEvent, OnboardingStoppedByCustomer
from bot.core.flow import State
from bot.core.model import Actor, Company
from bot.core.notices import Notice
from bot.ports import LinkNotices
from bot.reports import LinkEventNotices, status_notices
from bot.settings import Settings
from bot.usecases.customer_exit import REMOVED, STOPPED
from bot.usecases.link_service import LinkService
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from storage.models import AuditEvent, OutboxMessage
from storage.repository import SqlUnitOfWork
from tests.storage.scratch import ScratchStorage
from tests.usecases.fakes import (
    CHANNEL,
    CUSTOMER,
    FakeMembership,
    FakeProvider,
    counting_commits,
)

STATUS = "C0STATUS"
MANAGER = "U0MANAGER"


class FailingNotices:
    """Link notices that fail while telling the account manager (after the change was made)."""

    def __init__(self) -> None:
        self._notices = LinkEventNotices(status_channel=STATUS, language="nl")

    def notices_for(self, event: LinkEvent) -> list[Notice]:
        if event.manager is not None:
            raise RuntimeError("the process dies before the manager's notice is written")
        return self._notices.notices_for(event)


@dataclass
class World:
    storage: ScratchStorage
    # Every use case below runs on this factory, which counts the commits.
    unit_of_work: Callable[[], SqlUnitOfWork]
    commits: list[int]
    bus: EventBus
    settings: Settings
    onboarding: OnboardingService
    seen_outbox: int = 0

    def links(self, notices: LinkNotices | None = None) -> LinkService:
        return LinkService(
            unit_of_work=self.unit_of_work,
            providers=Providers.only(FakeProvider()),
            membership=FakeMembership(),
            settings=self.settings,
            event_bus=self.bus,
            reports=status_notices(self.settings),
            notices=notices or LinkEventNotices(status_channel=STATUS, language="nl"),
        )

    def invited(self) -> int:
        status = self.onboarding.create_invite(
            client_name="Acme", channel_id=CHANNEL, team_id="T0CUSTOMER", started_by=MANAGER
        )
        self.commits.clear()
        self.seen_outbox = len(self._outbox())
        return status.onboarding_id

    def linked(self) -> int:
        onboarding_id = self.invited()
        with self.storage.unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            onboarding.state = State.COMPLETED.value
            uow.links.create(
                onboarding=onboarding,
                username="loon@acme.nl",
                token="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                domain="acme",
                companies=[Company(id=11, number=1, name="Acme BV", guid="g-11")],
            )
            uow.commit()
        return onboarding_id

    def state(self, onboarding_id: int) -> str:
        with self.storage.unit_of_work() as uow:
            return uow.onboardings.require(onboarding_id).state

    def outbox(self) -> list[OutboxMessage]:
        """What the use case under test put in the outbox (not the invite's own report)."""
        return self._outbox()[self.seen_outbox :]

    def _outbox(self) -> list[OutboxMessage]:
        with Session(self.storage.engine) as session:
            return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))

    def audit_kinds(self, onboarding_id: int) -> list[str]:
        with Session(self.storage.engine) as session:
            statement = select(AuditEvent.kind).where(AuditEvent.onboarding_id == onboarding_id)
            return list(session.exec(statement))


@pytest.fixture
def world() -> Iterator[World]:
    settings = Settings(_env_file=None, status_channel=STATUS)
    with ScratchStorage() as storage:
        counted, commits = counting_commits(storage.unit_of_work)
        bus = EventBus([status_notices(settings)])
        onboarding = OnboardingService(
            unit_of_work=counted,
            providers=Providers.only(FakeProvider()),
            membership=FakeMembership(),
            settings=settings,
            event_bus=bus,
        )
        yield World(storage, counted, commits, bus, settings, onboarding)


def test_the_customer_stopping_an_onboarding_commits_once_with_the_managers_notice(world):
    onboarding_id = world.invited()
    result = world.links().stop_onboarding(onboarding_id, CUSTOMER)
    assert result.kind == STOPPED and result.invite is not None
    assert result.invite.state == State.CANCELLED
    assert world.commits == [1]
    assert {row.kind for row in world.outbox()} == {
        "report.onboarding_cancelled",
        f"dm.{OnboardingStoppedByCustomer.kind}",
    }


def test_the_customer_removing_a_link_commits_once_with_the_managers_notice(world):
    onboarding_id = world.linked()
    result = world.links().remove_link(onboarding_id, CUSTOMER)
    assert result.kind == REMOVED and result.invite is not None
    assert result.invite.state == State.UNLINKED
    assert world.commits == [1]
    assert {row.kind for row in world.outbox()} == {
        "report.link_unlinked",
        "dm.link_removed_by_customer",
    }


def test_a_crash_before_the_managers_notice_leaves_the_onboarding_as_it_was(world):
    onboarding_id = world.invited()
    with pytest.raises(RuntimeError):
        world.links(FailingNotices()).stop_onboarding(onboarding_id, CUSTOMER)
    assert world.state(onboarding_id) == State.INVITED
    assert "onboarding_cancelled" not in world.audit_kinds(onboarding_id)
    assert world.outbox() == [] and world.commits == []


def test_a_crash_before_the_managers_notice_keeps_the_link(world):
    onboarding_id = world.linked()
    with pytest.raises(RuntimeError):
        world.links(FailingNotices()).remove_link(onboarding_id, CUSTOMER)
    assert world.state(onboarding_id) == State.COMPLETED
    with world.storage.unit_of_work() as uow:
        link = uow.links.for_onboarding(onboarding_id)
        assert link.revoked_at is None and uow.links.token(link) is not None
    assert world.outbox() == [] and world.commits == []


def test_replacing_an_invite_cancels_and_creates_in_one_commit(world):
    onboarding_id = world.invited()
    status = world.onboarding.replace_invite(
        onboarding_id,
        client_name="Acme Holding",
        channel_id=CHANNEL,
        team_id="T0CUSTOMER",
        started_by=MANAGER,
    )
    assert world.commits == [1]
    assert world.state(onboarding_id) == State.CANCELLED
    assert world.state(status.onboarding_id) == State.INVITED


def test_a_replacement_that_fails_leaves_the_running_onboarding_open(world):
    onboarding_id = world.invited()

    def fail_on_create(uow: SqlUnitOfWork, event: object) -> None:
        if getattr(event, "kind", "") == "invite_created":
            raise RuntimeError("the process dies while creating the new onboarding")

    world.bus.subscribe(fail_on_create)
    with pytest.raises(RuntimeError):
        world.onboarding.replace_invite(
            onboarding_id,
            client_name="Acme Holding",
            channel_id=CHANNEL,
            team_id="T0CUSTOMER",
            started_by=MANAGER,
        )
    assert world.state(onboarding_id) == State.INVITED
    assert world.commits == []


def test_a_stranger_cannot_stop_it_and_nothing_is_committed(world):
    onboarding_id = world.invited()
    stranger = Actor("U0STRANGER", "T0CUSTOMER")
    assert world.links().stop_onboarding(onboarding_id, stranger).kind == "refused"
    assert world.state(onboarding_id) == State.INVITED and world.commits == []
