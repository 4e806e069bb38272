"""The process's logging: text or JSON lines on stderr (LOG_FORMAT), each with the id of the
request it was written for.

A transport's HTTP app sets `request_id` for each request it handles; every record written
while it is handled carries it, also after the ack and in worker threads that copy the context
("-" outside a request).

Errors a caller can repeat at will (asyncio's accept error when the process is out of open
files, uvicorn's 503 for too many connections, its 400 for a malformed request) are let through
once per REPEAT_INTERVAL_SECONDS with a count of the ones held back, without a traceback: a
flood of connections once wrote 480 MB of log in under a minute.

uvicorn's access log writes each request's path with its query string; the consent's pages carry
secrets there (`/nmbrs/start?t=`, `/nmbrs/callback?code=&state=`), so `QueryStringFilter` drops
every query string from the access log's records before any handler sees them. Other loggers
may write those links too (slack_sdk's DEBUG dump of views.open/update holds the consent
button's start link): `ConsentLinkFilter` on the handler redacts them from every record's final
message, at every level.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
REPEAT_INTERVAL_SECONDS = 60.0
# The first line of each record a caller can repeat at will, as asyncio and uvicorn write them.
REPEATABLE = (
    "socket.accept() out of system resource",
    "Exceeded concurrency limit.",
    "Invalid HTTP request received.",
)


ACCESS_LOGGER = "uvicorn.access"


class QueryStringFilter(logging.Filter):
    """Drops the query string from the path of uvicorn's access records
    (`'%s - "%s %s HTTP/%s" %d'` with client, method, path?query, version, status), and from
    any other text argument that looks like a path with one."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_without_query(arg) for arg in args)
        elif isinstance(record.msg, str):
            record.msg = _without_query(record.msg)
        return True


def _without_query(value: object) -> object:
    if isinstance(value, str) and "?" in value:
        return value.split("?", 1)[0]
    return value


def strip_query_strings_from_access_log() -> None:
    """Install QueryStringFilter on uvicorn's access logger (once)."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, QueryStringFilter) for f in access.filters):
        access.addFilter(QueryStringFilter())


# The consent's links in any text: /nmbrs/start's token (up to a quote, ampersand, whitespace or
# a JSON escape) and /nmbrs/callback's whole query (code and state), slashes JSON-escaped or not.
_START_TOKEN = re.compile(r"(\\?/nmbrs\\?/start\?t=)[^'\"&\s\\]+")
_CALLBACK_QUERY = re.compile(r"(\\?/nmbrs\\?/callback\?)[^'\"\s\\]+")
REDACTED = "[redacted]"


def redact_consent_links(text: str) -> str:
    """`text` with the consent's start tokens and callback queries replaced by REDACTED."""
    if "nmbrs" not in text:
        return text
    text = _START_TOKEN.sub(rf"\g<1>{REDACTED}", text)
    return _CALLBACK_QUERY.sub(rf"\g<1>{REDACTED}", text)


class ConsentLinkFilter(logging.Filter):
    """Redacts the consent's start tokens and callback queries from a record's final message
    (its arguments merged in), whichever logger wrote it and at whatever level."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it as logging does
            return True
        redacted = redact_consent_links(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


class RepeatFilter(logging.Filter):
    """Lets one record of each REPEATABLE kind through per `interval` seconds, saying how many
    were held back since the last one, and drops its traceback (the first line says it all)."""

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        first_line = str(record.msg).split("\n", 1)[0]
        if first_line not in REPEATABLE:
            return True
        now = self._clock()
        last = self._last.get(first_line)
        if last is not None and now - last < self._interval:
            self._held_back[first_line] = self._held_back.get(first_line, 0) + 1
            return False
        self._last[first_line] = now
        held_back = self._held_back.pop(first_line, 0)
        error = record.exc_info[1] if record.exc_info else None
        record.msg = first_line + (f" ({error})" if error else "")
        if held_back:
            record.msg += f"; {held_back} more like it since the last one logged"
        record.args = None
        record.exc_info = record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get() or "-",
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """The root logger writes to stderr as text or JSON (LOG_FORMAT), with request ids; serve
    hands uvicorn's loggers to it too (uvicorn started with log_config=None)."""
    handler = logging.StreamHandler()
    handler.addFilter(ConsentLinkFilter())
    handler.addFilter(RepeatFilter())
    handler.addFilter(RequestIdFilter())
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    strip_query_strings_from_access_log()
