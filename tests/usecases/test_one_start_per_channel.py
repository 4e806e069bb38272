"""Two processes starting an onboarding in one channel at the same moment: the database keeps
one, and the account manager who lost the race is told it is already running."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clock import SystemClock, WorkingCalendar
from bot.core.events import EventBus
from bot.core.model import InviteStatus, StartRequest
from bot.ports import ChannelInfo
from bot.reports import OnboardingSummary, StatusNotices
from bot.schedule import ReminderPolicy
from bot.settings import Settings
from bot.usecases.invites import ALREADY_RUNNING, STARTED, InviteDesk
from bot.usecases.manager import ManagerTools
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine, upgrade
from storage.models import Onboarding
from storage.repository import unit_of_work_factory
from tests.usecases.fakes import FakeProvider

calendar = WorkingCalendar("Europe/Amsterdam")
policy = ReminderPolicy(calendar=calendar)
settings = Settings(
    terms_url="https://example.com/voorwaarden",
    support_phone="+31 20 000 0000",
    status_channel="C0STATUS",
    _env_file=None,
)
REQUEST = StartRequest(client_name="Bakkerij de Vries", channel_id="C0SHARED", language="nl")


class Everyone:
    def is_member(self, channel_id: str, user_id: str) -> bool:
        return True


class SharedChannel:
    async def channel(self, channel_id: str) -> ChannelInfo:
        return ChannelInfo(found=True, bot_is_member=True, externally_shared=True)

    async def post_invite(self, status: InviteStatus) -> InviteStatus:
        return status

    async def send_dm(self, user_id: str, status: InviteStatus) -> str | None:
        return None


class LooksWithTheOther(ManagerTools):
    """Its first look for a running onboarding returns only once the other process has looked
    too: both find none, as two processes can when their requests arrive together."""

    both_looked: threading.Barrier

    def open_for_channel(self, channel_id: str) -> OnboardingSummary | None:
        running = super().open_for_channel(channel_id)
        if not getattr(self, "looked", False):
            self.looked = True
            self.both_looked.wait(timeout=10)
        return running


def process_tools(engine: Engine, cipher: TokenCipher, barrier: threading.Barrier) -> ManagerTools:
    uow = unit_of_work_factory(engine, cipher)
    reports = StatusNotices(status_channel="C0STATUS", language="nl", policy=policy)
    service = OnboardingService(
        unit_of_work=uow,
        providers=Providers.only(FakeProvider()),  # no Nmbrs call when starting
        membership=Everyone(),
        settings=settings,
        event_bus=EventBus([reports]),
    )
    tools = LooksWithTheOther(
        unit_of_work=uow,
        service=service,
        reports=reports,
        policy=policy,
        clock=SystemClock(),
    )
    tools.both_looked = barrier
    return tools


def test_two_processes_starting_in_one_channel_at_once_make_one_onboarding(
    database_url: str,
) -> None:
    upgrade(database_url)
    cipher = TokenCipher([generate_key()])
    barrier = threading.Barrier(2)
    engines = [make_engine(database_url), make_engine(database_url)]
    desks = [
        InviteDesk(process_tools(engine, cipher, barrier), SharedChannel(), home_team="T0OURS")
        for engine in engines
    ]

    async def both() -> list:
        return await asyncio.gather(
            *(desk.start(REQUEST, manager=f"U0MANAGER{n}") for n, desk in enumerate(desks))
        )

    try:
        results = asyncio.run(both())
        with Session(engines[0]) as session:
            onboardings = list(session.exec(select(Onboarding)))
    finally:
        for engine in engines:
            engine.dispose()

    assert sorted(result.kind for result in results) == sorted([STARTED, ALREADY_RUNNING])
    [started] = [result for result in results if result.kind == STARTED]
    [refused] = [result for result in results if result.kind == ALREADY_RUNNING]
    assert len(onboardings) == 1
    assert started.invite.onboarding_id == onboardings[0].id
    assert refused.running.onboarding_id == onboardings[0].id
