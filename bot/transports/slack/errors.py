"""`failure_answer(language)`: the app's error handler, between a failing listener and a 500 or
a silent ack.

Whatever raised in a middleware, a matcher or a listener is logged; the person is told where
Slack lets us (an error screen in the modal, an ephemeral message in the channel or the
command's answer); and the HTTP answer is never a bare 500: a request not yet answered gets the
error screen or a 400, an ack already given stays given. (bolt 1.30 drops an ack whose listener
raises before bolt has sent it.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.transports.slack.payload_shape import BAD_REQUEST
from bot.transports.slack.views.manager import failed_modal, failure_text
from bot.transports.slack.views.onboarding import CALLBACK_PREFIX, error_view

logger = logging.getLogger(__name__)


def failure_answer(
    language: str,
) -> Callable[..., Awaitable[BoltResponse | None]]:
    """The error handler for `app.error`, telling people in `language`."""

    async def answer_failure(
        error: Exception,
        body: dict[str, Any],
        request: AsyncBoltRequest,
        response: BoltResponse | None,
        client: AsyncWebClient,
    ) -> BoltResponse | None:
        logger.error("a Slack request failed: %s", type(error).__name__, exc_info=error)
        body = body if isinstance(body, dict) else {}
        view = body.get("view") if isinstance(body.get("view"), dict) else None
        answered = response is None
        if not answered and body.get("type") == "view_submission" and view is not None:
            screen = _error_screen(language, view)
            return BoltResponse(
                status=200, body={"response_action": "update", "view": screen.to_dict()}
            )
        if not answered and body.get("type") == "block_suggestion":
            return BoltResponse(status=200, body={"options": []})
        if not answered and isinstance(body.get("command"), str):
            return BoltResponse(
                status=200, body={"response_type": "ephemeral", "text": failure_text(language)}
            )
        await _tell(client, body, view, language)
        if answered:
            _keep_ack(request.context.ack)
            return None
        return BoltResponse(status=400, body=BAD_REQUEST)

    return answer_failure


def _error_screen(language: str, view: dict[str, Any]) -> View:
    if str(view.get("callback_id", "")).startswith(CALLBACK_PREFIX):
        return error_view(language, "try_again")
    return failed_modal(language, failure_text(language))


async def _tell(
    client: AsyncWebClient, body: dict[str, Any], view: dict[str, Any] | None, language: str
) -> None:
    """Best effort: an error screen in the person's modal, else an ephemeral message."""
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    user_id = user.get("id") or body.get("user_id")
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    channel_id = channel.get("id") or body.get("channel_id")
    try:
        if view is not None and view.get("type") == "modal" and isinstance(view.get("id"), str):
            await client.views_update(view_id=view["id"], view=_error_screen(language, view))
        elif isinstance(user_id, str) and isinstance(channel_id, str):
            await client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=failure_text(language)
            )
    except Exception as failure:
        logger.warning("could not tell the person about the failure: %s", type(failure).__name__)


def _keep_ack(ack: AsyncAck) -> None:
    """bolt clears a given ack right after its error handler returns; put it back just after,
    so the ack still goes out. Must be the last thing the handler does (no await after it)."""
    given = ack.response
    if given is None:
        return

    def restore() -> None:
        if ack.response is None:
            ack.response = given

    asyncio.get_running_loop().call_soon(restore)
