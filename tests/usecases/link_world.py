"""A linked client on scratch storage against the Nmbrs sandbox, and the link use cases
wired around it (the verification, relink, company and exit tests share it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from bot.clock import SystemClock
from bot.core.events import EventBus
from bot.core.flow import State
from bot.core.model import Actor
from bot.reports import LinkEventNotices, status_notices
from bot.settings import Settings
from bot.usecases.link_service import LinkService
from bot.usecases.maintenance import LinkMaintenance
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from payroll.nmbrs_soap.model import Company
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    SandboxHandle,
)
from storage.crypto import TokenCipher
from storage.db import make_engine, upgrade
from storage.models import AuditEvent, Client, Onboarding, OutboxMessage
from storage.repository import SqlUnitOfWork
from tests.storage.scratch import ScratchStorage

CHANNEL = "C0SHARED"
STATUS = "C0STATUS"
MANAGER = "U0MANAGER"
CUSTOMER = Actor(user_id="U0CUSTOMER", team_id="T0CUSTOMER", channel_id=CHANNEL)
STRANGER = Actor(user_id="U0STRANGER", team_id="T0CUSTOMER", channel_id=CHANNEL)
NEW_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
DEMO_IDS = ["48201", "48202", "48203", "48204", "48205"]


class MigratedStorage:
    """Like ScratchStorage, on a database of the `database_url` fixture (SQLite or PostgreSQL)
    migrated to head, with the key given (a served command can be given the same)."""

    def __init__(self, url: str, key: str):
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.cipher = TokenCipher([key])

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.cipher)

    def close(self) -> None:
        self.engine.dispose()


class Members:
    def is_member(self, channel_id: str, user_id: str) -> bool:
        return channel_id == CHANNEL and user_id in {"U0CUSTOMER", MANAGER}


@dataclass
class World:
    storage: ScratchStorage | MigratedStorage
    nmbrs: SandboxHandle
    provider: SoapNmbrsProvider
    onboarding: OnboardingService
    maintenance: LinkMaintenance
    links: LinkService

    def link_id(self, onboarding_id: int) -> int:
        with self.storage.unit_of_work() as uow:
            return uow.links.for_onboarding(onboarding_id).id

    def link(self, onboarding_id: int):
        with self.storage.unit_of_work() as uow:
            link = uow.links.for_onboarding(onboarding_id)
            companies = [row.provider_company_ref for row in uow.links.companies(link.id)]
            token = uow.links.token(link)
        return link, companies, token

    def outbox(self, *, channel: str | None = None) -> list[OutboxMessage]:
        with Session(self.storage.engine) as session:
            rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [row for row in rows if channel is None or row.recipient == channel]

    def audit(self, kind: str) -> list[AuditEvent]:
        with Session(self.storage.engine) as session:
            return list(session.exec(select(AuditEvent).where(AuditEvent.kind == kind)))

    def linked_client(
        self, *, companies: list[int] | None = None, name: str = "Bakkerij de Vries"
    ) -> int:
        return store_linked_client(
            self.storage.unit_of_work, self.nmbrs, companies=companies, name=name
        )

    def revoke_token(self) -> None:
        self.nmbrs.accounts[DEMO_USERNAME].token = NEW_TOKEN


def store_linked_client(
    unit_of_work, nmbrs: SandboxHandle, *, companies: list[str] | None, name: str
) -> int:
    """A client whose onboarding completed with the demo login, as the flow leaves it."""
    account = nmbrs.accounts[DEMO_USERNAME]
    chosen = [
        Company(id=str(c.id), number=c.number, name=c.name, guid=c.guid)
        for c in account.companies
        if str(c.id) in (companies or DEMO_IDS)
    ]
    with unit_of_work() as uow:
        client = uow.clients.add(
            Client(name=name, workspace_id="T0CUSTOMER", conversation_id=CHANNEL)
        )
        onboarding = uow.onboardings.add(
            Onboarding(
                client_id=client.id,
                state=State.COMPLETED.value,
                started_by=MANAGER,
                step_data={
                    "step": 6,
                    "username": DEMO_USERNAME,
                    "domain": "voorbeeld",
                    "chosen": [vars(c) for c in chosen],
                    "completed_by": "U0CUSTOMER",
                },
            )
        )
        uow.links.create(
            onboarding=onboarding,
            username=DEMO_USERNAME,
            token=DEMO_TOKEN,
            domain="voorbeeld",
            companies=chosen,
        )
        uow.commit()
        return onboarding.id


def make_world(nmbrs: SandboxHandle, storage: ScratchStorage | MigratedStorage, provider) -> World:
    settings = Settings(
        _env_file=None,
        status_channel=STATUS,
        terms_url="https://example.com/voorwaarden",
        support_phone="020 123 45 67",
    )
    clock = SystemClock()
    bus = EventBus([status_notices(settings)])
    onboarding = OnboardingService(
        unit_of_work=storage.unit_of_work,
        providers=Providers.only(provider),
        membership=Members(),
        settings=settings,
        event_bus=bus,
        clock=clock,
    )
    notices = LinkEventNotices(status_channel=STATUS, language="nl")
    maintenance = LinkMaintenance(
        unit_of_work=storage.unit_of_work,
        providers=Providers.only(provider),
        notices=notices,
        settings=settings,
        clock=clock,
    )
    links = LinkService(
        unit_of_work=storage.unit_of_work,
        providers=Providers.only(provider),
        membership=Members(),
        settings=settings,
        event_bus=bus,
        reports=status_notices(settings),
        notices=notices,
        clock=clock,
    )
    return World(storage, nmbrs, provider, onboarding, maintenance, links)
