from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import build_container, create_asgi_app_for
from bot.logs import JsonFormatter, RequestIdFilter, configure_logging
from bot.settings import Settings
from bot.transports.slack.http import create_asgi_app
from storage.crypto import generate_key
from storage.db import check_connection, make_engine, upgrade

SIGNING_SECRET = "test-signing-secret"


def bolt_app() -> AsyncApp:
    return AsyncApp(
        token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/"),
    )


def database_check(url: str) -> Callable[[], Awaitable[None]]:
    engine = make_engine(url)

    async def check() -> None:
        check_connection(engine)

    return check


def client_for(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")


def signed_headers(body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/json",
    }


async def test_healthz_answers_200_when_the_database_answers(database_url: str) -> None:
    app = create_asgi_app(bolt_app(), health_check=database_check(database_url))
    async with client_for(app) as client:
        response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


@pytest.mark.parametrize(
    "unreachable_url",
    [
        "sqlite:////nonexistent-directory/onboarding.db",
        "postgresql+psycopg://postgres@127.0.0.1:1/onboarding",
    ],
    ids=["sqlite", "postgresql"],
)
async def test_healthz_answers_503_when_the_database_is_unreachable(unreachable_url: str) -> None:
    app = create_asgi_app(bolt_app(), health_check=database_check(unreachable_url))
    async with client_for(app) as client:
        response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (
        503,
        {"ok": False, "database": "unreachable"},
    )


async def test_slack_events_go_to_bolt_which_checks_the_signature() -> None:
    app = create_asgi_app(bolt_app(), health_check=database_check("sqlite://"))
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
    async with client_for(app) as client:
        unsigned = await client.post("/slack/events", content=body)
        signed = await client.post("/slack/events", content=body, headers=signed_headers(body))
    assert unsigned.status_code == 401
    assert (signed.status_code, signed.json()) == (200, {"challenge": "c-123"})


async def test_slack_events_only_accept_post() -> None:
    app = create_asgi_app(bolt_app(), health_check=database_check("sqlite://"))
    async with client_for(app) as client:
        response = await client.get("/slack/events")
    assert response.status_code == 405


async def test_a_body_that_stalls_is_refused_with_408_when_its_time_is_up() -> None:
    app = create_asgi_app(
        bolt_app(), health_check=database_check("sqlite://"), body_timeout_seconds=0.1
    )
    stalled = asyncio.Event()

    async def stalling_body() -> AsyncIterator[bytes]:
        yield b'{"type": "url_verification", '
        await stalled.wait()  # the rest never comes

    async with client_for(app) as client:
        response = await client.post("/slack/events", content=stalling_body())
    assert response.status_code == 408
    assert response.headers["connection"] == "close"


async def test_the_composed_app_checks_its_own_database(tmp_path) -> None:
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url="http://127.0.0.1:9/api/",
        encryption_keys=generate_key(),
        database_url=f"sqlite:///{tmp_path / 'onboarding.db'}",
    )
    upgrade(settings.database_url)
    container = build_container(settings)
    try:
        async with client_for(create_asgi_app_for(container)) as client:
            response = await client.get("/healthz")
    finally:
        container.close()
    assert (response.status_code, response.json()) == (200, {"ok": True, "delivery": "running"})


def logged_during(app, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """GET /healthz on `app` with `headers`; the response and what the app logged meanwhile,
    formatted as serve formats it with LOG_FORMAT=json."""
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Lines()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    web_logger = logging.getLogger("bot.transports.slack.http")
    web_logger.addHandler(handler)

    async def request():  # type: ignore[no-untyped-def]
        async with client_for(app) as client:
            return await client.get("/healthz", headers=headers)

    try:
        response = asyncio.run(request())
    finally:
        web_logger.removeHandler(handler)
    return response, [json.loads(line) for line in lines]


async def failing_check() -> None:
    raise ConnectionError("database down")


def test_every_request_gets_an_id_that_its_log_lines_carry_as_json() -> None:
    app = create_asgi_app(bolt_app(), health_check=failing_check)
    response, [line] = logged_during(app, {})
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert line["request_id"] == request_id
    assert (line["level"], line["logger"]) == ("WARNING", "bot.transports.slack.http")
    assert "database unreachable" in line["message"] and line["time"].endswith("+00:00")


def test_a_request_id_from_the_proxy_is_kept_and_a_malformed_one_replaced() -> None:
    app = create_asgi_app(bolt_app(), health_check=failing_check)
    kept, [kept_line] = logged_during(app, {"X-Request-ID": "lb-7f3a.42"})
    replaced, _ = logged_during(app, {"X-Request-ID": "two words\nand a newline"})
    assert kept.headers["x-request-id"] == kept_line["request_id"] == "lb-7f3a.42"
    assert replaced.headers["x-request-id"] != "two words\nand a newline"
    assert len(replaced.headers["x-request-id"]) == 32


def test_log_format_json_writes_one_json_object_per_line(capsys) -> None:  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("json")
        logging.getLogger("bot.test").info("hallo %s", "wereld")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert json.loads(line) | {"time": "t"} == {
        "time": "t",
        "level": "INFO",
        "logger": "bot.test",
        "message": "hallo wereld",
        "request_id": "-",
    }
