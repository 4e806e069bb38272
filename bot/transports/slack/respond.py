"""Replies through a response_url, retried as the Web API calls are (bot.transports.slack.retries)
and sent over the process's Web API session. bolt's own `respond()` tries once, with a
connection of its own; `retried_respond` puts this one in its place for every request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse

from bot.transports.slack.retries import response_url_retries
from bot.transports.slack.session import SharedSession


class RetriedRespond(AsyncRespond):
    def __init__(self, *, response_url: str | None, web_api: SharedSession, timeout: float):
        super().__init__(response_url=response_url)
        self._web_api = web_api
        self._timeout = timeout

    async def __call__(  # noqa: PLR0913 (bolt's signature)
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | Block] | None = None,
        attachments: Sequence[dict[str, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        webhook = AsyncWebhookClient(
            url=self.response_url,
            timeout=max(1, round(self._timeout)),
            session=self._web_api.session,
            retry_handlers=response_url_retries(),
        )
        if isinstance(text, dict):
            return await webhook.send_dict(text)
        # None values are left out of the body.
        return await webhook.send_dict(
            {
                "text": text,
                "blocks": blocks,
                "attachments": attachments,
                "response_type": response_type,
                "replace_original": replace_original,
                "delete_original": delete_original,
                "unfurl_links": unfurl_links,
                "unfurl_media": unfurl_media,
                "thread_ts": thread_ts,
                "metadata": metadata,
            }
        )


def retried_respond(
    web_api: SharedSession, *, timeout: float
) -> Callable[[AsyncBoltContext, Callable[[], Awaitable[Any]]], Awaitable[Any]]:
    """A global bolt middleware giving every listener a RetriedRespond as `respond`."""

    async def middleware(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:  # noqa: A002 (bolt's name)
        url = context.get("response_url")
        if url is not None:
            context["respond"] = RetriedRespond(response_url=url, web_api=web_api, timeout=timeout)
        return await next()

    return middleware
