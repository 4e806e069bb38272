"""Errors a caller can repeat at will are logged once per interval, with a count, and without
their traceback; every other record goes through untouched. No log line shows a query string of
the consent's pages, nor (at any level, whichever logger wrote it) a consent link's token, code
or state."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.clock import SystemClock
from bot.core.model import StepRef
from bot.core.screens import ConsentScreen, Outcome
from bot.logs import RepeatFilter, configure_logging, redact_consent_links
from bot.serving import uvicorn_config
from bot.transports.slack.views.onboarding import render
from bot.usecases.consent import ConsentFlow, ConsentTicket
from storage.crypto import TokenCipher, generate_key

ACCEPT_ERROR = "socket.accept() out of system resource"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def accept_error() -> logging.LogRecord:
    """What asyncio logs each time it cannot accept a connection for want of open files."""
    try:
        raise OSError(24, "Too many open files")
    except OSError as error:
        return logging.LogRecord(
            "asyncio",
            logging.ERROR,
            __file__,
            1,
            f"{ACCEPT_ERROR}\nsocket: <asyncio.TransportSocket fd=6>",
            None,
            (OSError, error, error.__traceback__),
        )


def passed(log_filter: RepeatFilter, records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records if log_filter.filter(record)]


def test_an_accept_error_in_a_loop_is_logged_once_per_interval_with_the_count() -> None:
    clock = Clock()
    log_filter = RepeatFilter(interval=60, clock=clock)
    first = passed(log_filter, [accept_error() for _ in range(5000)])
    clock.now += 60
    second = passed(log_filter, [accept_error() for _ in range(10)])
    assert first == [f"{ACCEPT_ERROR} ([Errno 24] Too many open files)"]
    assert second == [
        f"{ACCEPT_ERROR} ([Errno 24] Too many open files); "
        "4999 more like it since the last one logged"
    ]


def test_the_record_let_through_carries_no_traceback() -> None:
    record = accept_error()
    assert RepeatFilter(clock=Clock()).filter(record)
    assert record.exc_info is None


def test_other_records_pass_untouched_however_often() -> None:
    log_filter = RepeatFilter(interval=60, clock=Clock())
    records = [
        logging.LogRecord("bot", logging.ERROR, __file__, 1, "outbox round failed", None, None)
        for _ in range(3)
    ]
    assert passed(log_filter, records) == ["outbox round failed"] * 3


def test_the_access_log_of_the_served_bot_shows_no_query_string(caplog) -> None:
    """uvicorn as `serve` configures it, its real access logger: the consent's pages carry
    secrets in their query strings, the log line keeps the path only."""

    async def page(_request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/nmbrs/callback", page), Route("/nmbrs/start", page)])
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as browser:
            browser.get("/nmbrs/callback?code=SECRET-CODE&state=SECRET-STATE")
            browser.get("/nmbrs/start?t=SECRET-TOKEN")
        deadline = time.monotonic() + 5
        while len([r for r in caplog.records if r.name == "uvicorn.access"]) < 2:
            assert time.monotonic() < deadline, "no access log lines"
            time.sleep(0.01)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any('"GET /nmbrs/callback HTTP/1.1" 200' in line for line in lines), lines
    assert any('"GET /nmbrs/start HTTP/1.1" 200' in line for line in lines), lines
    assert "SECRET" not in "\n".join(lines)


# --- the consent's links never in a log line -------------------------------------------------

PUBLIC_URL = "https://onboarding.example.nl"
CODE, STATE = "CODE-a1b2c3d4e5f6", "STATE-g7h8i9j0k1l2"


@pytest.fixture
def restored_root_logger() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers: put them back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def start_url() -> str:
    """A consent button's link as the bot draws it (a real start token)."""
    flow = ConsentFlow(
        unit_of_work=lambda: None,  # type: ignore[arg-type,return-value]
        cipher=TokenCipher([generate_key()]),
        clock=SystemClock(),
        public_url=PUBLIC_URL,
        redirect_uri=PUBLIC_URL + "/nmbrs/callback",
    )
    ticket = ConsentTicket("onboarding", 7, 3, "U0CUSTOMER", "T0CUSTOMER", "consent-k")
    return flow.start_url(ticket)


def consent_modal(url: str) -> dict:
    outcome = Outcome(
        screen=ConsentScreen(data={}, start_url=url, view_key="consent-k"),
        language="nl",
        client_name="Acme",
        ref=StepRef(7, 3),
    )
    return render(outcome, private_metadata="7.3.nl." + "a" * 16).to_dict()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_log_line_at_any_level_shows_a_start_token_or_a_code_or_state(
    restored_root_logger: None, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    url = start_url()
    token = parse_qs(urlsplit(url).query)["t"][0]
    callback = f"{PUBLIC_URL}/nmbrs/callback?code={CODE}&state={STATE}&scope=company.info.read"
    view = consent_modal(url)
    assert url in json.dumps(view)  # the button carries the link
    configure_logging(log_format, level=logging.DEBUG)  # as serve does, at DEBUG
    slack = logging.getLogger("slack_sdk.web.async_base_client")
    # slack_sdk's DEBUG dump of the call, and of Slack's answer (its JSON escapes slashes).
    slack.debug(
        f"Sending a request - url: https://slack.com/api/views.open, query_params: {{}}, "
        f"json_body: {{'trigger_id': '1.2.3', 'view': {view}}}, headers: {{}}"
    )
    answer = json.dumps({"ok": True, "view": view}).replace("/", "\\/")
    slack.debug("Received the following response - status: 200, body: %s", answer)
    other = logging.getLogger("bot.somewhere")
    other.debug("drawn %s", url)
    other.info("drawn %r", {"url": url})
    other.warning("redirect to %s failed", callback)
    other.error("view update for %s & more", url)
    logging.getLogger("httpx").debug("GET %s", callback)

    written = capsys.readouterr().err
    assert written.count("[redacted]") >= 7, written
    for secret in (token, quote(token), token[:24], CODE, STATE):
        assert secret not in written
    assert "/nmbrs/start?t=[redacted]" in written
    assert "/nmbrs/callback?[redacted]" in written
    assert "views.open" in written  # the rest of each line stays


def test_text_without_a_consent_link_passes_untouched() -> None:
    line = "GET https://api.nmbrsapp.com/api/debtors?pageNumber=1 200 'quoted' & more"
    assert redact_consent_links(line) == line
