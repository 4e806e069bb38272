"""One bot served per module (hypothesis runs many examples against it), a customer who has
reached the credential step, and what changes when a request has an effect."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.devslack import DevSlack, run_devslack
from nmbrs.sandbox import SandboxHandle, demo_accounts
from storage.db import upgrade
from tests.e2e.journey import ServedBot
from tests.served import bot_settings, database_rows


@pytest.fixture(scope="module")
def module_slack() -> Iterator[DevSlack]:
    with run_devslack() as fake:
        yield fake


@pytest.fixture(scope="module")
def setting_overrides() -> dict[str, Any]:
    """Settings a test module serves its bot with (override the fixture to change them)."""
    return {}


@pytest.fixture(scope="module")
def served(
    module_database_url: str,
    module_slack: DevSlack,
    sandbox: SandboxHandle,
    setting_overrides: dict[str, Any],
) -> Iterator[ServedBot]:
    sandbox.accounts.reset(demo_accounts())
    upgrade(module_database_url)
    settings = bot_settings(module_database_url, module_slack, sandbox, **setting_overrides)
    bot = ServedBot(settings=settings, slack=module_slack)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


@dataclass(frozen=True)
class Effects:
    """What a request can change: rows, Web API calls made, Nmbrs calls made."""

    rows: dict[str, list[tuple]]
    slack_calls: int
    nmbrs_calls: int


def effects(bot: ServedBot, nmbrs: SandboxHandle) -> Effects:
    assert bot.container is not None
    return Effects(database_rows(bot.container.engine), len(bot.slack.calls()), len(nmbrs.calls))


def settled_effects(bot: ServedBot, nmbrs: SandboxHandle, quiet_for: float = 0.2) -> Effects:
    """The effects once nothing has changed for `quiet_for` seconds (work after an ack ends
    a moment later), waiting at most 5 s."""
    deadline = time.monotonic() + 5
    last = effects(bot, nmbrs)
    while time.monotonic() < deadline:
        time.sleep(quiet_for)
        now = effects(bot, nmbrs)
        if now == last:
            return now
        last = now
    return last
