"""The whole bot, served: uvicorn on a local port, the fake Slack (bot.devslack) sending signed
requests and answering the Web API, the Nmbrs sandbox over HTTP, a migrated database.

One Nmbrs sandbox serves the session (its accounts are reset per test); the fake Slack, the
database and the bot are fresh per test. `bot.restart()` stops the served app and starts a new
one on the same database, as a redeploy would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.devslack import DevSlack, SlackUser, run_devslack
from bot.settings import Settings
from nmbrs.sandbox import SandboxHandle, demo_accounts, run_sandbox
from storage.crypto import generate_key
from storage.db import upgrade
from tests.e2e.journey import CUSTOMER, SUPPORT_PHONE, TERMS_URL, ServedBot


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    with run_sandbox() as handle:
        yield handle


@pytest.fixture
def nmbrs(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.accounts.reset(demo_accounts())
    sandbox.latency = 0.0
    sandbox.clear_calls()
    return sandbox


@pytest.fixture
def slack() -> Iterator[DevSlack]:
    with run_devslack() as fake:
        yield fake


@pytest.fixture
def bot(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[ServedBot]:
    upgrade(database_url)
    settings = Settings(
        _env_file=None,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        database_url=database_url,
        encryption_keys=generate_key(),
        nmbrs_base_url=nmbrs.base_url,
        status_channel="C0STATUS",
        terms_url=TERMS_URL,
        support_phone=SUPPORT_PHONE,
    )
    served = ServedBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def customer(slack: DevSlack) -> SlackUser:
    return slack.user(CUSTOMER)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG and above, from every logger, zeep's included."""
    caplog.set_level(logging.DEBUG)
    return caplog
