"""What stands between a bad request or a failing listener and a 500 or a silent ack.

- `shape_error(body)`: what a payload lacks that Slack always sends for its kind. bot.web answers
  400 to a signed payload with such a gap before bolt reads it, so listeners may rely on those
  fields.
- `web_api_retries()` / `blocking_web_api_retries()`: what the bot's Web API clients retry: a
  429 after its Retry-After, a 500 or 503 after a quarter and then half a second (someone is
  waiting on a modal), a dropped connection; up to twice each.
- `failure_answer(language)`: the app's error handler. Whatever raised in a middleware, a
  matcher or a listener is logged; the person is told where Slack lets us (an error screen in the
  modal, an ephemeral message in the channel or the command's answer); and the HTTP answer is
  never a bare 500: a request not yet answered gets the error screen or a 400, an ack already
  given stays given. (bolt 1.30 drops an ack whose listener raises before bolt has sent it.)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry import BackoffRetryIntervalCalculator, Jitter, RetryHandler
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.views.manager import failed_modal, failure_text
from bot.slack.views.onboarding import CALLBACK_PREFIX, error_view

logger = logging.getLogger(__name__)

BAD_REQUEST = {"error": "the request is not a Slack payload this app can handle"}
INTERACTIONS = ("block_actions", "view_submission", "view_closed", "block_suggestion")
COMMAND_FIELDS = ("command", "user_id", "channel_id", "team_id", "trigger_id")
VIEW_FIELDS = ("id", "type", "callback_id", "private_metadata")
# Slack refuses to show a view with more; a longer one was not sent by Slack.
MAX_PRIVATE_METADATA = 3000
RETRIES = 2
SERVER_ERROR_BACKOFF = 0.25


def shape_error(body: Any) -> str | None:
    """What the payload lacks that Slack always sends for its kind; None when it is complete."""
    if not isinstance(body, dict):
        return "not an object"
    if "command" in body:
        return _missing_text(body, COMMAND_FIELDS) or _wrong_type(body, "text", str)
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event"
        if event["type"] == "app_home_opened":
            return _missing_text(event, ("user",)) and "event.user"
        return None
    if kind not in INTERACTIONS:
        return None
    user = body.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "user.id"
    for name in ("team", "channel", "container", "message"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return name
    view = body.get("view")
    if view is not None or kind in ("view_submission", "view_closed"):
        if not isinstance(view, dict):
            return "view"
        missing = _missing_text(view, VIEW_FIELDS)
        state = view.get("state")
        if missing or not isinstance(state, dict) or not isinstance(state.get("values"), dict):
            return f"view.{missing or 'state.values'}"
        if len(view["private_metadata"]) > MAX_PRIVATE_METADATA:
            return "view.private_metadata within Slack's limit"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "actions.action_id"
        return _missing_text(body, ("trigger_id",))
    if kind == "block_suggestion":
        return _missing_text(body, ("action_id", "value"))
    return None


def _missing_text(mapping: dict, names: Sequence[str]) -> str | None:
    return next((name for name in names if not isinstance(mapping.get(name), str)), None)


def _wrong_type(mapping: dict, name: str, kind: type) -> str | None:
    return name if name in mapping and not isinstance(mapping[name], kind) else None


class _ShortJitter(Jitter):
    def recalculate(self, duration: float) -> float:
        return duration + random.uniform(0, SERVER_ERROR_BACKOFF)


def _server_error_backoff() -> BackoffRetryIntervalCalculator:
    return BackoffRetryIntervalCalculator(
        backoff_factor=SERVER_ERROR_BACKOFF, jitter=_ShortJitter()
    )


def web_api_retries() -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=RETRIES),
        AsyncRateLimitErrorRetryHandler(max_retry_count=RETRIES),
        AsyncServerErrorRetryHandler(
            max_retry_count=RETRIES, interval_calculator=_server_error_backoff()
        ),
    ]


def blocking_web_api_retries() -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=RETRIES),
        RateLimitErrorRetryHandler(max_retry_count=RETRIES),
        ServerErrorRetryHandler(
            max_retry_count=RETRIES, interval_calculator=_server_error_backoff()
        ),
    ]


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
