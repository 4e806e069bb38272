"""The outbox's Slack side (bot.outbox.Deliverer): draw the notice, post it (or update the
message it names; a reply goes in its parent's thread, `reply_broadcast` when it needs a
person), and map Slack's answers to the worker's outcomes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.notices import Notice
from bot.outbox import DeliveryFailed
from bot.transports.slack.mrkdwn import NO_UNFURL
from bot.transports.slack.render import SlackRenderer
from bot.transports.slack.session import SharedSession

logger = logging.getLogger(__name__)

# Slack answers these the same way however often we ask.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "restricted_action",
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
    }
)
DEFAULT_RETRY_AFTER_SECONDS = 1.0


class SlackDelivery:
    """Sends outbox notices with the Web API: chat.postMessage, or chat.update of the message
    whose ts the notice `updates`; returns the message's ts."""

    transport = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        renderer: SlackRenderer,
        *,
        session: SharedSession | None = None,
    ):
        # The process's one Web API session (bot.bootstrap), else one of the worker's own.
        self.session = session or SharedSession(timeout=client.timeout)
        self.client = self.session.share_with(client)
        self.renderer = renderer

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """The Web API session held open for as long as the worker runs."""
        async with self.session.open():
            yield

    async def deliver(self, recipient: str, notice: Notice) -> str | None:
        try:
            message = self.renderer.render(notice)
        except (KeyError, TypeError, ValueError) as error:
            # Values this code cannot draw will not draw on the next attempt either.
            logger.exception("cannot draw outbox notice %s", notice.kind)
            raise DeliveryFailed("unrenderable", permanent=True) from error
        arguments: dict[str, Any] = {"channel": recipient, "text": message.text}
        if message.blocks:
            arguments["blocks"] = message.blocks
        method = "chat.postMessage"
        if notice.updates is not None:
            method, arguments["ts"] = "chat.update", notice.updates
        else:
            arguments.update(NO_UNFURL)
            if notice.thread is not None:
                arguments["thread_ts"] = notice.thread
                if notice.broadcast:
                    arguments["reply_broadcast"] = True
        try:
            response = await self.client.api_call(method, json=arguments)
        except SlackApiError as error:
            raise _failure(error) from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise DeliveryFailed(type(error).__name__) from error
        return response.get("ts")


def _failure(error: SlackApiError) -> DeliveryFailed:
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if status == 429:
        retry_after = _retry_after_seconds(getattr(response, "headers", None) or {})
        logger.info("Slack rate-limited an outbox message; retrying in %ss", retry_after)
        return DeliveryFailed("ratelimited", retry_after=retry_after)
    code = _error_code(response) or f"http_{status}"
    return DeliveryFailed(code, permanent=code in PERMANENT_ERRORS)


def _retry_after_seconds(headers: Mapping[str, str]) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


def _error_code(response: object) -> str | None:
    try:
        code = response["error"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None
