"""The one composition root: real adapters are built and wired here, nowhere else.

`build_container(settings)` opens the database engine, the token cipher (ENCRYPTION_KEYS must
hold at least one valid key), the unit-of-work factory and the payroll provider.
`build_asgi_app(settings)` adds the bolt AsyncApp and the HTTP routes on top (see bot.web).
Tests build their own Container around scratch storage and a local Nmbrs sandbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property

from slack_sdk import WebClient
from sqlalchemy import Engine
from starlette.applications import Starlette

from bot.core.events import EventBus
from bot.core.payroll import PayrollProvider
from bot.ports import LinkNotices
from bot.reports import status_reports
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.guards import blocking_web_api_retries
from bot.slack.membership import SlackChannelMembership
from bot.slack.views.links import link_messages
from bot.usecases.link_service import LinkService
from bot.usecases.maintenance import LinkMaintenance
from bot.usecases.onboarding import OnboardingService
from bot.web import create_asgi_app
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from storage.crypto import TokenCipher
from storage.db import check_connection, make_engine
from storage.repository import UnitOfWorkFactory, unit_of_work_factory


@dataclass
class Container:
    settings: Settings
    engine: Engine
    cipher: TokenCipher
    unit_of_work: UnitOfWorkFactory
    payroll_provider: PayrollProvider
    # Status events of the onboardings; subscribers (reports) run in the publishing transaction.
    event_bus: EventBus = field(default_factory=EventBus)

    @cached_property
    def membership(self) -> SlackChannelMembership:
        """Who is in a client's channel; one cache shared by every use case of the container."""
        slack = WebClient(
            token=self.settings.slack_bot_token,
            base_url=self.settings.slack_api_url,
            timeout=self.settings.slack_timeout_seconds,  # type: ignore[arg-type]
            retry_handlers=blocking_web_api_retries(),
        )
        return SlackChannelMembership(slack)

    @cached_property
    def link_notices(self) -> LinkNotices:
        return link_messages(
            status_channel=self.settings.status_channel,
            language=self.settings.default_language,
        )

    @cached_property
    def onboarding(self) -> OnboardingService:
        """The customer's onboarding use cases (bot.usecases.onboarding), one per container."""
        return OnboardingService(
            unit_of_work=self.unit_of_work,
            provider=self.payroll_provider,
            membership=self.membership,
            settings=self.settings,
            event_bus=self.event_bus,
        )

    @cached_property
    def link_maintenance(self) -> LinkMaintenance:
        """Verification of links and the retention job (bot.usecases); needs no Slack."""
        return LinkMaintenance(
            unit_of_work=self.unit_of_work,
            provider=self.payroll_provider,
            notices=self.link_notices,
            settings=self.settings,
        )

    @cached_property
    def links(self) -> LinkService:
        """The customer's use cases on a link after the onboarding (bot.usecases.link_service)."""
        return LinkService(
            unit_of_work=self.unit_of_work,
            provider=self.payroll_provider,
            membership=self.membership,
            settings=self.settings,
            event_bus=self.event_bus,
            reports=status_reports(self.settings),
            notices=self.link_notices,
        )

    async def check_database(self) -> None:
        """Raise unless the database answers; runs off the event loop (blocking driver)."""
        await asyncio.to_thread(check_connection, self.engine)

    def close(self) -> None:
        self.engine.dispose()


def build_container(settings: Settings) -> Container:
    cipher = TokenCipher(settings.encryption_key_list)
    engine = make_engine(settings.database_url)
    return Container(
        settings=settings,
        engine=engine,
        cipher=cipher,
        unit_of_work=unit_of_work_factory(engine, cipher),
        payroll_provider=SoapNmbrsProvider(
            settings.nmbrs_base_url,
            connect_timeout=settings.nmbrs_connect_timeout,
            read_timeout=settings.nmbrs_read_timeout,
        ),
        # Every meaningful event becomes a status report (via the outbox) in STATUS_CHANNEL.
        event_bus=EventBus([status_reports(settings)] if settings.status_channel else []),
    )


def build_asgi_app(settings: Settings) -> Starlette:
    return create_asgi_app_for(build_container(settings))


def create_asgi_app_for(container: Container) -> Starlette:
    """The served app around an existing container (tests pass one with local fakes)."""
    return create_asgi_app(
        build_app(container),
        health_check=container.check_database,
        signing_secret=container.settings.slack_signing_secret,
    )
