"""The baseline for the ack benchmark: a bolt AsyncApp whose listeners only ack, served exactly
as `onboard-bot serve` serves ours (bot.transports.slack.http's Starlette app with the signature
check before bolt, one uvicorn server with the same bounds, the same logging), so the difference
in ack time is what our listeners do. Beside the Slack routes it answers the browser's return
from the Nmbrs consent (`GET /nmbrs/callback`) with a small fixed page, the baseline of our
callback page.

    .venv/bin/python -m benchmarks.bare_bolt --port 3001 --signing-secret ... \\
        --token xoxb-... --slack-api-url http://127.0.0.1:.../api/
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

import uvicorn
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot.logs import configure_logging
from bot.serving import uvicorn_config
from bot.settings import NMBRS_CALLBACK_PATH
from bot.transports.slack.http import create_asgi_app

EVERYTHING = re.compile(".*")
# About the size of our callback page, with its headers.
BARE_PAGE = (
    '<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Nmbrs</title></head>'
    "<body><h1>Nmbrs</h1><p>U kunt terug naar Slack.</p></body></html>"
)
PAGE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


def bare_app(*, signing_secret: str, token: str, slack_api_url: str) -> AsyncApp:
    app = AsyncApp(
        signing_secret=signing_secret,
        client=AsyncWebClient(token=token, base_url=slack_api_url),
        process_before_response=False,
    )

    @app.command(EVERYTHING)
    async def command(ack: AsyncAck) -> None:
        await ack()

    @app.action(EVERYTHING)
    async def action(ack: AsyncAck) -> None:
        await ack()

    @app.view(EVERYTHING)
    async def submission(ack: AsyncAck) -> None:
        await ack()

    @app.options(EVERYTHING)
    async def options(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(options=[])

    return app


async def always_healthy() -> None:
    return None


async def bare_page(request: Request) -> HTMLResponse:
    return HTMLResponse(BARE_PAGE, headers=PAGE_HEADERS)


def bare_routes() -> list[Route]:
    """The consent's way back to the bot, answered with a fixed page whatever the query."""
    return [Route(NMBRS_CALLBACK_PATH, bare_page, methods=["GET"])]


def main() -> None:
    parser = argparse.ArgumentParser(description="A bolt app that only acks.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--slack-api-url", required=True)
    arguments = parser.parse_args()
    configure_logging("text")
    app = bare_app(
        signing_secret=arguments.signing_secret,
        token=arguments.token,
        slack_api_url=arguments.slack_api_url,
    )
    asgi = create_asgi_app(
        app,
        health_check=always_healthy,
        signing_secret=arguments.signing_secret,
        extra_routes=bare_routes(),
    )
    config = uvicorn_config(asgi, host="127.0.0.1", port=arguments.port)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
