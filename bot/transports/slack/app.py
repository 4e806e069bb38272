"""The bolt AsyncApp factory: one app per process, listeners registered per surface."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.transports.slack.errors import failure_answer
from bot.transports.slack.listeners import register_listeners
from bot.transports.slack.respond import retried_respond
from bot.transports.slack.retries import web_api_retries
from bot.transports.slack.session import SharedSession

if TYPE_CHECKING:
    from bot.services import Services
    from bot.settings import Settings

logger = logging.getLogger(__name__)


def build_app(
    settings: Settings, services: Services, *, web_api: SharedSession | None = None
) -> AsyncApp:
    """Build the Slack app. Acks go out as soon as a listener calls `ack()`
    (process_before_response stays False), so slow work never delays them. The bot token
    travels with the client, whose base URL may point at a local Slack stand-in. The client,
    and the listeners' `respond()` (retried, bot.transports.slack.respond), use `web_api`, the
    process's Web API session, when given, else one of their own."""
    web_api = web_api or SharedSession(timeout=settings.slack_timeout_seconds)
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,  # type: ignore[arg-type]
        retry_handlers=web_api_retries(),
    )
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=web_api.share_with(client),
        process_before_response=False,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    app.use(retried_respond(web_api, timeout=settings.slack_timeout_seconds))
    register_listeners(app, services)
    app.error(failure_answer(settings.default_language))
    return app
