"""With every logger at DEBUG, a whole onboarding (a wrong token, Nmbrs failing and echoing the
token, the retry, the over-access warning, completion, the reports, the dashboards) leaves the
token in plaintext nowhere: no log line, exception, Web API call, view, message, report or
database column."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from bot.bootstrap import build_container, outbox_worker
from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
)
from devslack import DevSlack
from devslack.workspace import MANAGER, STATUS_CHANNEL
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle, soap_fault
from storage.db import upgrade
from tests.e2e.journey import (
    CHANNEL,
    CUSTOMER,
    ServedBot,
    enter_credentials,
    settled,
    start,
    to_credentials,
)
from tests.served import bot_settings

WRONG_TOKEN = "0123456789abcdef0123456789abcdef"
TOKENS = (DEMO_TOKEN, WRONG_TOKEN)
DEBUG_LOGGERS = (
    "",
    "zeep",
    "zeep.transports",
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy.engine",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "urllib3",
    "bot",
    "bot.slack.bolt",
    "payroll",
)
# uvicorn's own configuration keeps these from reaching the root logger.
NOT_PROPAGATING = ("uvicorn", "uvicorn.access")


@pytest.fixture
def secret_bot(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[ServedBot]:
    upgrade(database_url)
    settings = bot_settings(database_url, slack, nmbrs, outbox_channel_interval_seconds=0)
    served = ServedBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    for name in NOT_PROPAGATING:
        logging.getLogger(name).addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for name in NOT_PROPAGATING:
            logging.getLogger(name).removeHandler(caplog.handler)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def sent_to_slack(slack: DevSlack) -> str:
    """What the bot sent: Web API arguments, its answers to Slack's requests, and every view,
    message and App Home as it stands (without what people typed into the forms)."""
    world = slack.world
    with world.lock:
        views = [view.body for view in world.views.values()]
        messages = [m.as_slack() for ms in world.messages.values() for m in ms]
    parts = [json.dumps({"method": c.method, "args": c.args}, default=str) for c in slack.calls()]
    parts += [delivery.response_text for delivery in slack.deliveries]
    parts += [json.dumps(views, default=str), json.dumps(messages, default=str)]
    return "\n".join(parts)


def columns_holding(engine: Engine, secret: str) -> list[str]:
    """`table.column` of every value in the database that holds `secret` in plaintext."""
    found = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for column, value in row._mapping.items():
                    if _holds(value, secret):
                        found.append(f"{table.name}.{column}")
    return found


def _holds(value: Any, secret: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bytes | memoryview):
        return secret.encode() in bytes(value)
    if isinstance(value, str):
        return secret in value
    return secret in json.dumps(value, default=str)


def drain_outbox(bot: ServedBot) -> None:
    """Deliver what is queued, as a worker of its own would (its own Web API session: the served
    bot's belongs to the served app's event loop)."""
    container = build_container(bot.settings)
    worker = outbox_worker(container)
    try:
        while asyncio.run(worker.deliver_due()):
            pass
    finally:
        container.close()


def test_the_token_is_in_plaintext_nowhere_after_a_whole_onboarding(
    secret_bot: ServedBot, slack: DevSlack, nmbrs: SandboxHandle, every_log
) -> None:
    bot = secret_bot
    engine = bot.container.engine
    onboarding_id = bot.invite(language="en")
    customer = slack.user(CUSTOMER)
    to_credentials(customer)
    enter_credentials(customer, DEMO_USERNAME, WRONG_TOKEN)

    nmbrs.accounts[DEMO_USERNAME].fail(soap_fault(9999, f"Internal error for token {DEMO_TOKEN}"))
    unavailable = enter_credentials(customer, DEMO_USERNAME, f" {DEMO_TOKEN}\n")
    assert unavailable.title == "Nmbrs unavailable"
    assert bot.onboarding(onboarding_id).pending_token is not None  # kept for the retry
    assert columns_holding(engine, DEMO_TOKEN) == []

    nmbrs.accounts[DEMO_USERNAME].heal()
    customer.click(unavailable, ACTION_CHECK_AGAIN)
    companies = settled(customer, CALLBACK_COMPANIES)
    customer.fill(companies, {ACTION_COMPANIES: ["48201", "48202", "48203"]})
    customer.submit(companies)
    customer.submit(settled(customer))  # links anyway, after the over-access warning
    assert settled(customer).title == "Connected"
    with bot.container.unit_of_work() as uow:
        assert uow.links.token(uow.links.for_onboarding(onboarding_id)) == DEMO_TOKEN

    manager = slack.user(MANAGER)
    manager.open_home()
    manager.command("/onboard", "status", channel=CHANNEL)
    drain_outbox(bot)
    assert slack.messages(STATUS_CHANNEL)  # the reports went out

    assert any(DEMO_TOKEN.encode() in delivery.body for delivery in slack.deliveries)
    everything_sent = sent_to_slack(slack)
    everything_logged = logged(every_log)
    assert "zeep.transports" in everything_logged and "sqlalchemy.engine" in everything_logged
    assert "slack_sdk" in everything_logged and "slack_bolt" in everything_logged
    for token in TOKENS:
        assert token not in everything_sent
        assert token not in everything_logged
        assert columns_holding(engine, token) == []


TOKEN_AS_USERNAME = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
MISTYPED_USERNAME = "salaris@bakkerij-de-vires.example"


def test_a_token_typed_as_the_username_is_refused_inline_and_kept_nowhere(
    secret_bot: ServedBot, slack: DevSlack, nmbrs: SandboxHandle, every_log
) -> None:
    bot = secret_bot
    bot.invite(language="en")
    customer = slack.user(CUSTOMER)
    to_credentials(customer)
    nmbrs_calls = len(nmbrs.calls)

    refused = enter_credentials(customer, f"{TOKEN_AS_USERNAME}\n", DEMO_TOKEN)
    assert refused.callback_id == CALLBACK_CREDENTIALS
    assert list(refused.errors.values()) == [
        "This looks like an API token, not a username. Enter the username here (usually an "
        "e-mail address) and paste the token into the API token field."
    ]
    assert len(nmbrs.calls) == nmbrs_calls  # Nmbrs never saw it
    customer.close(refused)  # a closed form keeps a draft
    start(customer)

    wrong = enter_credentials(customer, MISTYPED_USERNAME, WRONG_TOKEN)
    assert wrong.callback_id == CALLBACK_CREDENTIALS and "incorrect" in wrong.text()
    drain_outbox(bot)
    assert slack.messages(STATUS_CHANNEL)  # the rejection was reported

    everything_sent = sent_to_slack(slack)
    assert TOKEN_AS_USERNAME not in everything_sent
    assert TOKEN_AS_USERNAME not in logged(every_log)
    assert columns_holding(bot.container.engine, TOKEN_AS_USERNAME) == []
    # A rejected username is kept nowhere (it may be anything typed): it goes back only into
    # the person's own form, so that only the token needs pasting again.
    assert columns_holding(bot.container.engine, MISTYPED_USERNAME) == []
    assert MISTYPED_USERNAME not in str(slack.messages(STATUS_CHANNEL))
    [shown] = [
        block["element"].get("initial_value")
        for block in wrong.blocks
        if block.get("block_id", "").startswith("username")
    ]
    assert shown == MISTYPED_USERNAME
