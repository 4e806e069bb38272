"""The HTTP face of the bot: an ASGI app that uvicorn serves.

- `POST /slack/events`: slash commands, interactivity, options loads and events, all handed to
  the bolt AsyncApp (which verifies Slack's signature). Given the signing secret, the request is
  checked here first, on the raw bytes: unsigned, badly signed or stale (> 5 minutes) is 401
  whatever the body; signed but not a Slack payload (not UTF-8, broken JSON, not an object, or
  without what Slack always sends, see payload_shape.py) is 400. Bolt would answer those with a
  500, and logs the body of a rejected request at INFO. A payload bolt fails to read is 400 too.
  Before any of that the body is read with a cap: a `Content-Length` above MAX_BODY_BYTES is
  413 at once, a body without one (chunked) is 413 as soon as it passes the cap, the rest
  unread; a body slower than BODY_TIMEOUT_SECONDS is 408. Both close the connection.
- `GET /nmbrs/start`, `GET /nmbrs/callback`: the customer's consent at Nmbrs in the browser
  (bot.transports.slack.consent_pages), when the bot is wired for it.
- `GET /healthz`: 200 `{"ok": true, "delivery": "running"}` when the database answers, else 503
  `{"ok": false, ...}`, so a load balancer takes an instance without a database out of rotation.
  While delivery is halted (the app uninstalled or its token revoked, bot.outbox) it is still
  200, with `"delivery": "halted"`, `"halted_since"` and `"reason"`: the instance is healthy and
  must keep answering Slack; the halt is the same on every instance, and a 503 would take them
  all out of rotation. Monitoring alerts on the `delivery` field.

Every request has an id (the proxy's `X-Request-ID`, else a new one), sent back in
`X-Request-ID` and added to every log record written while it is handled, also after the ack
and in worker threads that copy the context (see bot.logs).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import parse_qsl

from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.logs import request_id
from bot.transports.slack.payload_shape import BAD_REQUEST, shape_error
from bot.transports.slack.session import SharedSession

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Slack's limit for the age of a request (replay protection).
MAX_REQUEST_AGE_SECONDS = 60 * 5
_DIGITS = re.compile(r"[0-9]{1,12}")
# Slack's payloads are a few KiB (a modal's state is the largest); nothing of Slack comes near.
MAX_BODY_BYTES = 1024 * 1024
# From the end of the headers to the end of the body (Slack sends both at once).
BODY_TIMEOUT_SECONDS = 10.0

# Returns normally when healthy; any exception means the database cannot be reached.
HealthCheck = Callable[[], Awaitable[None]]
# Whether messages go out: {"delivery": "running"}, or "halted" with since when and why.
DeliveryStatus = Callable[[], Awaitable[Mapping[str, str]]]

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


# When the request being handled arrived (time.monotonic()): what the listeners have left of a
# trigger's 3 s is counted from here.
request_arrived: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "request_arrived", default=None
)


class RequestIdMiddleware:
    """Gives each HTTP request an id: a well-formed `X-Request-ID` from the proxy, else new;
    and notes when it arrived (`request_arrived`)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        current = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(current)
        arrived = request_arrived.set(time.monotonic())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", current.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
            request_arrived.reset(arrived)


def is_signed_by_slack(
    signing_secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> bool:
    """Slack's v0 signature over the raw body, at most MAX_REQUEST_AGE_SECONDS old; any header
    that is missing or not what Slack sends means False, never an exception."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not _DIGITS.fullmatch(timestamp) or not signature.isascii():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


class BodyTooLarge(Exception):
    """The request's body is, or says it is, longer than the cap."""


async def read_capped_body(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to pass `limit` bytes: from the
    declared `Content-Length` before reading any, else while streaming (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def refused(status_code: int, error: str) -> Response:
    """An answer that closes the connection, so the body not read is not read after it either."""
    return JSONResponse({"error": error}, status_code=status_code, headers={"connection": "close"})


def payload_problem(body: bytes, content_type: str) -> str | None:
    """Why bolt could not read the body as a Slack payload (not UTF-8, broken JSON, not an
    object, lacking what Slack always sends); None when it can."""
    try:
        text = body.decode("utf-8")
        if content_type == "application/json" or text.startswith("{"):
            payload = json.loads(text)
        elif "payload" in text:
            payload = json.loads(dict(parse_qsl(text, keep_blank_values=True)).get("payload", "{}"))
        else:
            payload = dict(parse_qsl(text, keep_blank_values=True))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return "not UTF-8 text or not JSON"
    return shape_error(payload)


def create_asgi_app(
    bolt_app: AsyncApp,
    *,
    health_check: HealthCheck,
    signing_secret: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_seconds: float = BODY_TIMEOUT_SECONDS,
    delivery_status: DeliveryStatus | None = None,
    web_api: SharedSession | None = None,
    extra_routes: Sequence[Route] = (),
) -> Starlette:
    """The routes around `bolt_app`; `web_api` is the process's Web API session (its clients,
    bolt's among them, already given to it), else one for bolt's client alone."""
    if web_api is None:
        web_api = SharedSession(timeout=bolt_app.client.timeout)
        web_api.share_with(bolt_app.client)

    async def slack_events(request: Request) -> Response:
        try:
            async with asyncio.timeout(body_timeout_seconds):
                body = await read_capped_body(request, max_body_bytes)
        except BodyTooLarge:
            return refused(413, "request too large")
        except TimeoutError:
            return refused(408, "request body too slow")
        except ClientDisconnect:  # gone before the body ended: nobody reads the answer
            return refused(400, "request incomplete")
        if signing_secret is not None:
            if not is_signed_by_slack(signing_secret, body, request.headers):
                return JSONResponse({"error": "invalid request"}, status_code=401)
            problem = payload_problem(body, request.headers.get("content-type", ""))
            if problem is not None:
                logger.warning("refused a signed request: %s", problem)
                return JSONResponse(BAD_REQUEST, status_code=400)
        try:
            answer = await bolt_app.async_dispatch(to_async_bolt_request(request, body))
        except Exception:
            # bolt reads payloads trusting their shape; one it cannot read is the sender's fault.
            logger.exception("bolt could not handle a request")
            return JSONResponse(BAD_REQUEST, status_code=400)
        return to_starlette_response(answer)

    async def healthz(_request: Request) -> Response:
        try:
            await health_check()
            delivery = {} if delivery_status is None else await delivery_status()
        except Exception as error:
            # The type only: driver messages can carry connection strings.
            logger.warning("health check failed: database unreachable (%s)", type(error).__name__)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, **delivery})

    return Starlette(
        routes=[
            Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"]),
            Route(HEALTH_PATH, healthz, methods=["GET"]),
            *extra_routes,
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=held_open(web_api),
    )


def held_open(web_api: SharedSession) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan holding the Web API session open (bot.transports.slack.session) for as long
    as the app is served; bolt's per-request clients copy the session of its client."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with web_api.open():
            yield

    return lifespan
