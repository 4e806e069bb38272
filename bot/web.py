"""The HTTP face of the bot: an ASGI app that uvicorn serves.

- `POST /slack/events`: slash commands, interactivity, options loads and events, all handed to
  the bolt AsyncApp (which verifies Slack's signature).
- `GET /healthz`: 200 `{"ok": true}` when the database answers, else 503 `{"ok": false, ...}`,
  so a load balancer takes an instance without a database out of rotation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

# Returns normally when healthy; any exception means the database cannot be reached.
HealthCheck = Callable[[], Awaitable[None]]


def create_asgi_app(bolt_app: AsyncApp, *, health_check: HealthCheck) -> Starlette:
    handler = AsyncSlackRequestHandler(bolt_app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_request: Request) -> Response:
        try:
            await health_check()
        except Exception as error:
            # The type only: driver messages can carry connection strings.
            logger.warning("health check failed: database unreachable (%s)", type(error).__name__)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]),
            Route(HEALTH_PATH, healthz, methods=["GET"]),
        ]
    )
