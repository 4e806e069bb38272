"""What the bot's Web API clients retry: a 429 after its Retry-After, a 500 or 503 after a
quarter and then half a second (someone is waiting on a modal), a dropped connection; up to
twice each. `web_api_retries()` for the async clients, `blocking_web_api_retries()` for the
WebClient the use cases' worker threads use, `response_url_retries()` for replies through a
response_url (the same, and a timeout too: a reply is ephemeral, one shown twice does less harm
than one never shown; Slack allows five replies per response_url).
"""

from __future__ import annotations

import random

from aiohttp import ClientOSError, ServerConnectionError, ServerDisconnectedError
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

RETRIES = 2
SERVER_ERROR_BACKOFF = 0.25


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


def response_url_retries() -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(
            max_retry_count=RETRIES,
            error_types=[
                ServerConnectionError,
                ServerDisconnectedError,
                ClientOSError,
                TimeoutError,
            ],
        ),
        AsyncRateLimitErrorRetryHandler(max_retry_count=RETRIES),
        AsyncServerErrorRetryHandler(
            max_retry_count=RETRIES, interval_calculator=_server_error_backoff()
        ),
    ]
