"""Slack's `app_uninstalled` and `tokens_revoked`, served: only an event about our own team (and,
for a revocation, our own bot user) halts delivery; /healthz shows the halt; it lasts across a
restart until a good auth.test of the token (or `onboard-bot outbox resume`, tests/bot) lifts it.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from bot.bootstrap import build_container, token_check
from devslack import DevSlack
from devslack.workspace import BOT_USER, OUR_TEAM
from tests.e2e.journey import ServedBot, eventually

OTHER_TEAM = "T0ELSEWHERE"


def health(slack: DevSlack) -> dict[str, object]:
    url = slack.endpoint.url.replace("/slack/events", "/healthz")
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200
    return response.json()


def halted(bot: ServedBot) -> bool:
    assert bot.container is not None
    return bot.container.delivery.status() is not None


async def check_token(bot: ServedBot) -> bool:
    """The token check of a process starting on the bot's settings."""
    container = build_container(bot.settings)
    try:
        return await token_check(container).check()
    finally:
        container.close()


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def test_an_uninstall_in_another_team_does_not_halt_delivery(
    bot: ServedBot, slack: DevSlack, logs: pytest.LogCaptureFixture
) -> None:
    slack.send_event({"type": "app_uninstalled", "event_ts": "1.0"}, team_id=OTHER_TEAM)

    eventually(lambda: logged(logs, f"app_uninstalled for team {OTHER_TEAM}, not ours"))
    assert not halted(bot)
    assert health(slack) == {"ok": True, "delivery": "running"}


@pytest.mark.parametrize(
    "tokens",
    [{"oauth": ["U0SOMEONE"]}, {"bot": ["U0ANOTHERBOT"]}],
    ids=["a person's token", "another bot's token"],
)
def test_a_revocation_of_tokens_not_ours_does_not_halt_delivery(
    bot: ServedBot, slack: DevSlack, logs: pytest.LogCaptureFixture, tokens: dict
) -> None:
    slack.send_event({"type": "tokens_revoked", "tokens": tokens, "event_ts": "1.0"})

    eventually(lambda: logged(logs, "not our bot's: the bot keeps sending"))
    assert not halted(bot)


def test_a_revocation_in_another_team_does_not_halt_delivery(
    bot: ServedBot, slack: DevSlack, logs: pytest.LogCaptureFixture
) -> None:
    event = {"type": "tokens_revoked", "tokens": {"bot": [BOT_USER]}, "event_ts": "1.0"}
    slack.send_event(event, team_id=OTHER_TEAM)

    eventually(lambda: logged(logs, f"tokens_revoked for team {OTHER_TEAM}, not ours"))
    assert not halted(bot)


def test_an_uninstall_of_our_team_halts_delivery_and_healthz_says_so(
    bot: ServedBot, slack: DevSlack, logs: pytest.LogCaptureFixture
) -> None:
    slack.send_event({"type": "app_uninstalled", "event_ts": "1.0"})

    eventually(lambda: halted(bot))
    shown = health(slack)
    assert shown.pop("halted_since")
    assert shown == {"ok": True, "delivery": "halted", "reason": "app_uninstalled"}
    assert logged(logs, f"Slack reported app_uninstalled for team {OUR_TEAM}: all sending stopped")


def test_a_revocation_of_our_bot_token_halts_until_a_good_auth_test_after_a_restart(
    bot: ServedBot, slack: DevSlack
) -> None:
    event = {"type": "tokens_revoked", "tokens": {"bot": [BOT_USER]}, "event_ts": "1.0"}
    slack.send_event(event)
    eventually(lambda: halted(bot))

    bot.restart()
    assert health(slack)["delivery"] == "halted"

    # The app reinstalled: the token check at start-up (and every hour) gets a good answer.
    assert asyncio.run(check_token(bot)) is True
    assert health(slack) == {"ok": True, "delivery": "running"}


def test_a_refused_token_leaves_the_halt_as_it_is(bot: ServedBot, slack: DevSlack) -> None:
    slack.send_event({"type": "app_uninstalled", "event_ts": "1.0"})
    eventually(lambda: halted(bot))
    slack.fail("auth.test", error="invalid_auth")

    assert asyncio.run(check_token(bot)) is False
    assert halted(bot)
