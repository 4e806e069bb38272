"""A database of the bot as it ran before the reshape (schema revision 0003, rows as that code
wrote them) upgrades to the newest revision, and the bot carries on with it.

`data/main_at_0003.json` holds every row the bot of main (commit ada8868) wrote while five
onboardings went on in three channels: one completed with a link (encrypted token, five linked
companies), one holding a verified token before the company choice, one awaiting credentials
with an older invite in the same channel (two processes could start both then), one never
opened, and the status reports still queued in the outbox. Its moments are moved to just
before the clock the bot runs on here (FakeClock, whatever the day the suite runs).
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import JSON, Engine, MetaData, text
from sqlmodel import Session, select

from bot.bootstrap import build_container
from bot.clock import WorkingCalendar
from bot.core.model import Actor, StepRef
from bot.core.screens import CompletedScreen, TermsScreen
from bot.outbox import OutboxWorker
from bot.settings import Settings
from bot.transports.slack.delivery import SlackDelivery
from bot.transports.slack.render import SlackRenderer
from bot.usecases.maintenance import VERIFIED
from devslack import DevSlack, run_devslack
from devslack.workspace import CUSTOMER_TEAM, OUR_TEAM, Channel, default_workspace
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage
from tests.usecases.fakes import FakeClock

MAIN = json.loads((Path(__file__).parent / "data" / "main_at_0003.json").read_text())
CUSTOMER = Actor(user_id="U0CUSTOMER", team_id="T0CUSTOMER")
CLOCK = FakeClock()
COMPLETED, VERIFIED_TOKEN, OLDER_DUPLICATE, AWAITING_CREDENTIALS, NEVER_OPENED = 1, 2, 3, 4, 5


def main_database(url: str) -> Engine:
    """Migrated to main's newest revision, holding main's rows."""
    engine = make_engine(url)
    upgrade(engine, MAIN["revision"])
    metadata = MetaData()
    metadata.reflect(engine)
    moments = [
        value["at"]
        for rows in MAIN["tables"].values()
        for row in rows
        for value in row.values()
        if isinstance(value, dict) and "at" in value
    ]
    shift = CLOCK.now() - max(datetime.fromisoformat(moment) for moment in moments)
    sqlite = engine.dialect.name == "sqlite"

    def stored(value: Any, is_json: bool) -> Any:
        if is_json or not isinstance(value, dict):
            return value
        if "b64" in value:
            return base64.b64decode(value["b64"])
        moment = datetime.fromisoformat(value["at"]) + shift
        return moment.replace(tzinfo=None) if sqlite else moment

    with engine.begin() as connection:
        for name, rows in MAIN["tables"].items():
            if not rows:
                continue
            table = metadata.tables[name]
            json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
            connection.execute(
                table.insert(),
                [{k: stored(v, k in json_columns) for k, v in row.items()} for row in rows],
            )
            if not sqlite:
                sequence = f"pg_get_serial_sequence('{name}', 'id')"
                connection.execute(text(f"SELECT setval({sequence}, MAX(id)) FROM {name}"))
    return engine


@pytest.fixture
def slack() -> Any:
    workspace = default_workspace()
    for channel in ("C0SECOND", "C0THIRD"):
        workspace.add_channel(
            Channel(
                channel,
                channel.lower(),
                ["U0MANAGER", "U0CUSTOMER", "U0BOT"],
                shared_team_ids=[OUR_TEAM, CUSTOMER_TEAM],
            )
        )
    with run_devslack(workspace) as fake:
        yield fake


def test_a_database_of_main_upgrades_and_the_bot_carries_on(
    database_url: str, slack: DevSlack, nmbrs: SandboxHandle
) -> None:
    engine = main_database(database_url)
    upgrade(engine)
    settings = Settings(
        _env_file=None,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        database_url=database_url,
        encryption_keys=MAIN["encryption_key"],
        nmbrs_base_url=nmbrs.base_url,
        status_channel="C0STATUS",
        terms_url="https://example.com/terms",
        support_phone="020 123 45 67",
    )
    container = build_container(settings)
    container.clock = CLOCK
    service = container.onboarding

    def ref(onboarding_id: int) -> StepRef:
        with container.unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            return StepRef(onboarding_id, onboarding.step_data["step"])

    def state(onboarding_id: int) -> str:
        with container.unit_of_work() as uow:
            return uow.onboardings.require(onboarding_id).state

    try:
        # The older of two open onboardings in one channel was cancelled by the migration.
        assert state(OLDER_DUPLICATE) == "cancelled"
        assert state(AWAITING_CREDENTIALS) == "terms_accepted"

        # The verified token and the company list kept with the onboarding complete it.
        with container.unit_of_work() as uow:
            seen = uow.onboardings.require(VERIFIED_TOKEN).step_data["companies"]
        outcome = service.choose_companies(
            ref(VERIFIED_TOKEN), CUSTOMER, [company[0] for company in seen]
        )
        assert isinstance(outcome.screen, CompletedScreen)
        assert state(VERIFIED_TOKEN) == "completed"

        # Awaiting credentials: they are checked and accepted.
        service.submit_credentials(
            ref(AWAITING_CREDENTIALS), CUSTOMER, username=DEMO_USERNAME, token=DEMO_TOKEN
        )
        assert state(AWAITING_CREDENTIALS) == "credentials_verified"

        # Never opened: Start shows the terms.
        assert isinstance(service.open(NEVER_OPENED, CUSTOMER).screen, TermsScreen)

        # The link of main verifies with the token it stored (the key of main reads it).
        with container.unit_of_work() as uow:
            summaries = uow.links.list_summaries()
            [main_link] = [s.link for s in summaries if s.link.onboarding_id == COMPLETED]
            assert uow.links.token(main_link) == DEMO_TOKEN
            assert (main_link.account_label, main_link.environment) == (
                DEMO_USERNAME,
                {"domain": "voorbeeld"},
            )
            companies = [c.provider_company_ref for c in uow.links.companies(main_link.id)]
            assert companies == [str(c["nmbrs_id"]) for c in MAIN["tables"]["linkedcompany"]]
            [client] = [s.client for s in summaries if s.link.id == main_link.id]
            assert (client.transport, client.workspace_id, client.conversation_id) == (
                "slack",
                "T0CUSTOMER",
                "C0SHARED",
            )
        assert container.link_maintenance.verify(main_link.id).outcome == VERIFIED

        # The queued reports are sent.
        asyncio.run(send_everything(engine, slack))
        with Session(engine) as session:
            rows = list(session.exec(select(OutboxMessage)))
        assert rows and {row.status for row in rows} == {"sent"}
        queued_by_main = len(MAIN["tables"]["outboxmessage"])
        assert len(slack.messages("C0STATUS")) >= queued_by_main
    finally:
        container.close()
        engine.dispose()


async def send_everything(engine: Engine, slack: DevSlack) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    delivery = SlackDelivery(client, SlackRenderer(calendar=WorkingCalendar("Europe/Amsterdam")))
    worker = OutboxWorker(engine, delivery, clock=CLOCK, channel_interval=0.0)
    for _ in range(100):
        await worker.deliver_due()
        with Session(engine) as session:
            if not session.exec(
                select(OutboxMessage).where(OutboxMessage.status == "pending")
            ).first():
                return
