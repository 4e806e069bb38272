"""Errors a caller can repeat at will are logged once per interval, with a count, and without
their traceback; every other record goes through untouched."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.logs import RepeatFilter
from bot.serving import uvicorn_config

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
