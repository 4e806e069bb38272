"""The one composition root: real adapters are built and wired here, nowhere else.

`build_container(settings)` opens the database engine, the token cipher (ENCRYPTION_KEYS must
hold at least one valid key), the unit-of-work factory and the payroll provider; the use cases
are built on them once, on first use, and `container.services` is what a transport is handed
(bot.services). `create_asgi_app_for(container)` adds the bolt AsyncApp and the HTTP routes on
top (see bot.transports.slack.http); `background_work(container)` is what runs beside it: the
outbox worker, the scheduler and the token check, all on one Web API session (`container.web_api`).
The CLI, the demo and the tests build through here too.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
from dataclasses import dataclass, field
from functools import cached_property
from multiprocessing.connection import Connection
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from starlette.applications import Starlette

from bot.clock import Clock, SystemClock
from bot.core.events import EventBus
from bot.core.payroll import NMBRS_REST, NMBRS_SOAP, PayrollProvider
from bot.logs import configure_logging, request_id
from bot.outbox import OutboxWorker
from bot.ports import LinkNotices
from bot.reports import LinkEventNotices, status_notices
from bot.schedule import Runner, Scheduler, reminder_policy, running_in_background, working_calendar
from bot.services import Services
from bot.settings import Settings
from bot.transports.slack.app import build_app
from bot.transports.slack.consent_pages import consent_routes
from bot.transports.slack.delivery import SlackDelivery
from bot.transports.slack.http import create_asgi_app
from bot.transports.slack.membership import SlackChannelMembership, cache_only
from bot.transports.slack.metadata import LINK_MODALS, MetadataSigner
from bot.transports.slack.render import SlackRenderer
from bot.transports.slack.retries import blocking_web_api_retries, web_api_retries
from bot.transports.slack.session import SharedSession
from bot.transports.slack.token_check import TokenCheck
from bot.use_case_process import UseCaseProcess, UseCases, UseCaseServer, lower_priority
from bot.usecases.consent import PURPOSE_RELINK, ConsentFlow
from bot.usecases.delivery import DeliveryControl
from bot.usecases.link_service import LinkService
from bot.usecases.maintenance import LinkMaintenance
from bot.usecases.manager import ManagerTools
from bot.usecases.migration import LinkMigration
from bot.usecases.onboarding import OnboardingService
from bot.usecases.providers import Providers
from bot.usecases.relink import RelinkConsent
from bot.usecases.scheduled import link_jobs, outbox_jobs, scheduled_jobs
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from storage.crypto import TokenCipher
from storage.db import check_connection, make_engine
from storage.links import LinkReader
from storage.repository import UnitOfWorkFactory, unit_of_work_factory

# The context variables a use case reads that travel with its call to the use-case process:
# the request id of its log lines, and "membership from the cache only" of a step in an ack.
TRAVELLING_CONTEXT = (request_id, cache_only)


@dataclass
class Container:
    settings: Settings
    engine: Engine
    cipher: TokenCipher
    unit_of_work: UnitOfWorkFactory
    # The provider of new onboardings; `providers` has every one links may name.
    payroll_provider: PayrollProvider
    payroll_providers: Providers | None = None
    # Status events of the onboardings; subscribers (reports) run in the publishing transaction.
    event_bus: EventBus = field(default_factory=EventBus)
    clock: Clock = field(default_factory=SystemClock)
    # `serve`'s use-case process (bot.use_case_process): when set, the transports' use cases
    # (`services`, `consents`) run there, and so does the background work.
    use_cases: UseCases | None = None

    @cached_property
    def providers(self) -> Providers:
        """Every payroll provider by name (SOAP and REST) and the one of new onboardings."""
        return self.payroll_providers or Providers.only(self.payroll_provider)

    @cached_property
    def web_api(self) -> SharedSession:
        """The one Web API session of the process: bolt's client, the outbox worker's, the token
        check's and the response_url replies use it; open while the app is served or the
        outbox worker runs, closed on shutdown."""
        return SharedSession(timeout=self.settings.slack_timeout_seconds)

    def async_slack_client(self) -> AsyncWebClient:
        """A Web API client on the process's session, with the bot token and the retries."""
        settings = self.settings
        client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            timeout=settings.slack_timeout_seconds,  # type: ignore[arg-type]
            retry_handlers=web_api_retries(),
        )
        return self.web_api.share_with(client)

    async def delivery_health(self) -> dict[str, str]:
        """What /healthz says of delivery: running, or halted since when and why."""
        delivery = self.services.delivery
        halt = await asyncio.to_thread(delivery.status)
        if halt is None:
            return {"delivery": "running"}
        return {"delivery": "halted", "halted_since": halt.since.isoformat(), "reason": halt.reason}

    @cached_property
    def membership(self) -> SlackChannelMembership:
        """Who is in a client's channel; one cache shared by every use case of the container."""
        slack = WebClient(
            token=self.settings.slack_bot_token.get_secret_value(),
            base_url=self.settings.slack_api_url,
            timeout=self.settings.slack_timeout_seconds,  # type: ignore[arg-type]
            retry_handlers=blocking_web_api_retries(),
        )
        return SlackChannelMembership(slack)

    @cached_property
    def link_notices(self) -> LinkNotices:
        return LinkEventNotices(
            status_channel=self.settings.status_channel,
            language=self.settings.default_language,
        )

    @cached_property
    def onboarding(self) -> OnboardingService:
        """The customer's onboarding use cases (bot.usecases.onboarding), one per container."""
        return OnboardingService(
            unit_of_work=self.unit_of_work,
            providers=self.providers,
            membership=self.membership,
            settings=self.settings,
            event_bus=self.event_bus,
            clock=self.clock,
            cipher=self.cipher,
        )

    @property
    def consents(self) -> ConsentFlow | None:
        """The customer's consents at Nmbrs in the browser (bot.usecases.consent): the
        onboarding's purpose, and the relink's (registered with the link use cases)."""
        self.links  # noqa: B018 (registers the relink's purpose)
        consents = self.onboarding.consents
        if self.use_cases is not None and consents is not None:
            return self.use_cases.component("consents", consents)  # type: ignore[no-any-return]
        return consents

    @cached_property
    def manager(self) -> ManagerTools:
        """The account manager's use cases (bot.usecases.manager); expiry queues the redraw of
        each invite it ends."""
        return ManagerTools(
            unit_of_work=self.unit_of_work,
            service=self.onboarding,
            reports=status_notices(self.settings),
            policy=reminder_policy(self.settings),
            clock=self.clock,
            providers=self.providers,
            migration=self.link_migration.status,
        )

    @cached_property
    def delivery(self) -> DeliveryControl:
        """Halting and resuming delivery (bot.usecases.delivery)."""
        return DeliveryControl(
            unit_of_work=self.unit_of_work,
            clock=self.clock,
            retention_days=self.settings.outbox_retention_days,
        )

    @cached_property
    def link_maintenance(self) -> LinkMaintenance:
        """Verification of links and the retention job (bot.usecases); needs no Slack."""
        return LinkMaintenance(
            unit_of_work=self.unit_of_work,
            providers=self.providers,
            notices=self.link_notices,
            settings=self.settings,
            clock=self.clock,
        )

    def link_reader(self, reader: str) -> LinkReader:
        """The read API of our payroll-sync jobs: REST links hand out a valid access token."""
        return LinkReader(self.unit_of_work, reader=reader, tokens=self.link_maintenance.grants)

    @cached_property
    def link_migration(self) -> LinkMigration:
        """The move of the SOAP links to the REST API (bot.usecases.migration)."""
        return LinkMigration(
            unit_of_work=self.unit_of_work,
            providers=self.providers,
            notices=self.link_notices,
            calendar=working_calendar(self.settings),
            clock=self.clock,
        )

    @cached_property
    def links(self) -> LinkService:
        """The customer's use cases on a link after the onboarding (bot.usecases.link_service)."""
        links = LinkService(
            unit_of_work=self.unit_of_work,
            providers=self.providers,
            membership=self.membership,
            settings=self.settings,
            # The onboarding's events and the unlink's report, in the link use case's transaction.
            event_bus=self.event_bus,
            reports=status_notices(self.settings),
            notices=self.link_notices,
            clock=self.clock,
            # Relinks are consents (and SOAP links move to the REST API) once it is configured.
            consent_provider=self.providers.available.get(NMBRS_REST),
        )
        consents = self.onboarding.consents
        if consents is not None:
            links.consents = consents
            consents.register(PURPOSE_RELINK, RelinkConsent(links))
        return links

    @cached_property
    def services(self) -> Services:
        """What the transports are handed, built once; its use cases run in `use_cases`, the
        use-case process, when there is one."""
        settings = self.settings
        components = self.use_case_components
        if self.use_cases is not None:
            use_cases = self.use_cases
            components = {name: use_cases.component(name, c) for name, c in components.items()}
        return Services(
            onboarding=components["onboarding"],
            links=components["links"],
            manager=components["manager"],
            delivery=components["delivery"],
            metadata_secret=settings.slack_signing_secret.get_secret_value(),
            language=settings.default_language,
            account_manager_group=settings.account_manager_group,
            calendar=working_calendar(settings),
            clock=self.clock,
        )

    @property
    def use_case_components(self) -> dict[str, Any]:
        """The use-case objects the transports call, by name, this process's own (in `serve`
        the use-case process answers calls to these names)."""
        self.links  # noqa: B018 (registers the relink's purpose with the consents)
        return {
            "onboarding": self.onboarding,
            "links": self.links,
            "manager": self.manager,
            "delivery": self.delivery,
            "consents": self.onboarding.consents,
        }

    async def check_database(self) -> None:
        """Raise unless the database answers; runs off the event loop (blocking driver)."""
        await asyncio.to_thread(check_connection, self.engine)

    def close(self) -> None:
        for provider in self.providers.available.values():
            if isinstance(provider, RestNmbrsProvider):
                provider.close()
        self.engine.dispose()


def payroll_providers(settings: Settings) -> Providers:
    """SOAP always (its links work until its end date), REST when NMBRS_API chose it or it is
    configured; new onboardings use NMBRS_API's."""
    soap = SoapNmbrsProvider(
        settings.nmbrs_base_url,
        connect_timeout=settings.nmbrs_connect_timeout,
        read_timeout=settings.nmbrs_read_timeout,
    )
    available: dict[str, PayrollProvider] = {soap.name: soap}
    if settings.nmbrs_api == "rest" or settings.rest_configured:
        rest = RestNmbrsProvider(
            client_id=settings.nmbrs_client_id,
            client_secret=settings.nmbrs_client_secret.get_secret_value(),
            subscription_key=settings.nmbrs_subscription_key.get_secret_value(),
            rest_url=settings.nmbrs_rest_url,
            identity_url=settings.nmbrs_identity_url,
            connect_timeout=settings.nmbrs_connect_timeout,
            read_timeout=settings.nmbrs_read_timeout,
            ask_user_info=settings.nmbrs_ask_user_info,
        )
        available[rest.name] = rest
    for_new = NMBRS_REST if settings.nmbrs_api == "rest" else NMBRS_SOAP
    return Providers(available, for_new, soap_ends_on=settings.nmbrs_soap_end_date)


def build_container(settings: Settings) -> Container:
    cipher = TokenCipher(settings.encryption_key_list)
    engine = make_engine(settings.database_url)
    providers = payroll_providers(settings)
    return Container(
        settings=settings,
        engine=engine,
        cipher=cipher,
        unit_of_work=unit_of_work_factory(engine, cipher),
        payroll_provider=providers.get(providers.for_new),
        payroll_providers=providers,
        # Every meaningful event becomes a status report (via the outbox) in STATUS_CHANNEL.
        event_bus=EventBus([status_notices(settings)] if settings.status_channel else []),
    )


def slack_app(container: Container) -> AsyncApp:
    """The bolt app with every listener, handed the container's services."""
    return build_app(container.settings, container.services, web_api=container.web_api)


def create_asgi_app_for(container: Container) -> Starlette:
    """The served app around an existing container (tests pass one with local fakes)."""
    bolt_app = slack_app(container)
    consents = container.consents
    secret = container.settings.slack_signing_secret.get_secret_value()
    routes = (
        consent_routes(
            consents,
            client=bolt_app.client,
            signer=MetadataSigner(secret),
            link_signer=MetadataSigner(secret, purpose=LINK_MODALS),
        )
        if consents is not None
        else []
    )
    return create_asgi_app(
        bolt_app,
        health_check=container.check_database,
        signing_secret=container.settings.slack_signing_secret.get_secret_value(),
        delivery_status=container.delivery_health,
        web_api=container.web_api,
        extra_routes=routes,
    )


def outbox_worker(container: Container) -> OutboxWorker:
    """Delivers what the use cases queued, drawn for Slack, to the Slack Web API."""
    settings = container.settings
    return OutboxWorker(
        container.engine,
        # Without the Web API's retries: the worker retries with its own backoff.
        SlackDelivery(
            AsyncWebClient(
                token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
            ),
            SlackRenderer(calendar=working_calendar(settings)),
            session=container.web_api,
        ),
        clock=container.clock,
        channel_interval=settings.outbox_channel_interval_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        max_attempts=settings.outbox_max_attempts,
    )


def job_scheduler(container: Container) -> Scheduler:
    """The account manager's scheduled work (digest, nudges, expiry), the daily verification
    of every link, the retention job and the outbox's pruning."""
    settings = container.settings
    calendar = working_calendar(settings)
    jobs = scheduled_jobs(container.manager, calendar=calendar, settings=settings)
    jobs += link_jobs(
        container.link_maintenance,
        calendar=calendar,
        settings=settings,
        migration=container.link_migration,
    )
    jobs += outbox_jobs(container.delivery, calendar=calendar)
    return Scheduler(
        container.engine, container.clock, jobs, poll_seconds=settings.scheduler_poll_seconds
    )


def token_check(container: Container) -> TokenCheck:
    """auth.test of the bot token at start-up and periodically; a good answer lifts a halt."""
    return TokenCheck(
        container.async_slack_client(),
        container.delivery,
        session=container.web_api,
        clock=container.clock,
        interval_seconds=container.settings.slack_token_check_minutes * 60,
    )


def use_case_process(settings: Settings) -> UseCaseProcess:
    """`serve`'s use-case process (bot.use_case_process), not yet started."""
    return UseCaseProcess(functools.partial(run_use_case_process, settings), TRAVELLING_CONTEXT)


def run_use_case_process(settings: Settings, connection: Connection) -> None:
    """The use-case process: a container of its own, whose use cases answer the calls of the
    served process until it stops, with the background work beside them."""
    from bot.serving import MemoryTrimmer, limit_malloc_arenas

    limit_malloc_arenas()
    lower_priority()
    configure_logging(settings.log_format)
    container = build_container(settings)
    server = UseCaseServer(connection, container.use_case_components, TRAVELLING_CONTEXT)
    trimmer = MemoryTrimmer(lambda: server.answered)
    background = BackgroundThread([*background_work(container), trimmer.run])
    gc.freeze()  # what start-up built lives as long as the process (as in `serve`)
    background.start()
    try:
        server.run()
    finally:
        background.stop()
        container.close()


class BackgroundThread:
    """Runs `runners` (bot.schedule) on an event loop in a thread of their own until stopped."""

    def __init__(self, runners: list[Runner]):
        self._runners = runners
        self._loop = asyncio.new_event_loop()
        self._stopped = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="background-work", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        self._loop.run_until_complete(self._until_stopped())

    async def _until_stopped(self) -> None:
        async with running_in_background(self._runners):
            await self._stopped.wait()


def background_work(container: Container) -> list[Runner]:
    """What `serve` runs beside the HTTP app: the outbox worker, the scheduler and the token
    check. Use as
    `async with bot.schedule.running_in_background(background_work(container)): ...`."""
    return [outbox_worker(container).run, job_scheduler(container).run, token_check(container).run]
