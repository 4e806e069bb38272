"""Fixtures for tests that drive the whole bot, served (tests/e2e, tests/faults, tests/security).

uvicorn serves the bot on a local port, the fake Slack (devslack) sends signed requests and
answers the Web API, the Nmbrs sandbox answers over HTTP, and the database is migrated.

One Nmbrs sandbox serves the session (its accounts are reset per test); with `bot`, the fake
Slack, the database and the bot are fresh per test; with `served`, they are shared by the tests
of a module (`module_slack`, `module_database_url`). `bot.restart()` stops the served app and
starts a new one on the same database, as a redeploy would. Registered as a plugin in
tests/conftest.py.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from bot.settings import Settings
from devslack import DevSlack, SlackUser, run_devslack
from payroll.nmbrs_soap.sandbox import SandboxHandle, demo_accounts, run_sandbox
from storage.crypto import generate_key
from storage.db import upgrade
from tests.e2e.journey import CUSTOMER, SUPPORT_PHONE, TERMS_URL, ServedBot


def bot_settings(
    database_url: str, slack: DevSlack, nmbrs: SandboxHandle, **overrides: Any
) -> Settings:
    """What `serve` would read from the environment, pointed at the local fakes; new
    onboardings link through the SOAP API (the journeys paste a username and token) unless
    `nmbrs_api="rest"` overrides it."""
    values: dict[str, Any] = {
        "nmbrs_api": "soap",
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": slack.signing_secret,
        "slack_api_url": slack.api_url,
        "database_url": database_url,
        "encryption_keys": generate_key(),
        "nmbrs_base_url": nmbrs.base_url,
        "status_channel": "C0STATUS",
        "account_manager_group": "S0MANAGERS",
        "terms_url": TERMS_URL,
        "support_phone": SUPPORT_PHONE,
    }
    return Settings(_env_file=None, **{**values, **overrides})


def serve_environment(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> dict[str, str]:
    """The environment of an `onboard-bot serve` process started as deployed, linking new
    onboardings through the SOAP API."""
    return {
        **os.environ,
        "NMBRS_API": "soap",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": generate_key(),
        "NMBRS_BASE_URL": nmbrs.base_url,
        "STATUS_CHANNEL": "C0STATUS",
        "ACCOUNT_MANAGER_GROUP": "S0MANAGERS",
        "TERMS_URL": TERMS_URL,
        "SUPPORT_PHONE": SUPPORT_PHONE,
    }


STARTUP_SECONDS = 30


@dataclass
class ServedWorkers:
    """A running `onboard-bot serve --workers N` process: its URL and its log."""

    process: subprocess.Popen
    url: str
    log: Path

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def workers(self) -> set[int]:
        """The pids of its worker processes (its children, read from /proc)."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[1]) == self.process.pid:
                children.add(int(stat.parent.name))
        return children


@contextmanager
def serve_workers(
    database_url: str, slack: DevSlack, nmbrs: SandboxHandle, directory: Path, *, workers: int
) -> Iterator[ServedWorkers]:
    """`onboard-bot serve --workers N` started as deployed, on a migrated PostgreSQL database,
    up (GET /healthz answers) and the fake Slack pointed at it; killed with its workers after."""
    upgrade(database_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = directory / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", str(workers)],
        env=serve_environment(database_url, slack, nmbrs),
        cwd=directory,  # no .env file of the repository
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the workers are its children: stop them all together
    )
    served = ServedWorkers(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not served.healthy():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        slack.connect(f"{served.url}/slack/events")
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def database_rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, in key order: compare two to prove nothing was written."""
    rows = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(query)]
    return rows


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
    served = ServedBot(settings=bot_settings(database_url, slack, nmbrs), slack=slack)
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


@pytest.fixture(scope="module")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """For modules whose tests the database plays no part in: override `module_database_url`
    with this, and they run once, on SQLite."""
    return f"sqlite:///{tmp_path_factory.mktemp('database') / 'onboarding.db'}"


@pytest.fixture(scope="module")
def module_slack(module_database_url: str) -> Iterator[DevSlack]:
    """A fake Slack for the tests of a module, fresh for each database they run on."""
    with run_devslack() as fake:
        yield fake


@pytest.fixture(scope="module")
def setting_overrides() -> dict[str, Any]:
    """Settings `served` starts the bot with (override the fixture in a module to change them)."""
    return {}


@pytest.fixture(scope="module")
def served(
    module_database_url: str,
    module_slack: DevSlack,
    sandbox: SandboxHandle,
    setting_overrides: dict[str, Any],
) -> Iterator[ServedBot]:
    """The bot served once for all tests of a module (each test starts its own onboarding)."""
    sandbox.accounts.reset(demo_accounts())
    upgrade(module_database_url)
    settings = bot_settings(module_database_url, module_slack, sandbox, **setting_overrides)
    bot = ServedBot(settings=settings, slack=module_slack)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()
