"""What changes when a request has an effect (the bot is served once per module, see
tests/served.py, so hypothesis can run many examples against it)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from devslack import DevSlack
from payroll.nmbrs_soap.sandbox import SandboxHandle
from tests.e2e.journey import ServedBot
from tests.served import database_rows


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


def quiet(slack: DevSlack, pause: float = 0.5) -> None:
    """Wait until the bot has made no Web API call for `pause` seconds (what a module's setup
    set off after its acks has ended before the first test looks)."""
    count = -1
    while count != len(slack.calls()):
        count = len(slack.calls())
        time.sleep(pause)
