"""Keeps Nmbrs tokens out of log lines, also zeep's own envelope dumps at DEBUG.

Two layers: every `<Token>` element and `"Token": "..."` pair is masked, and every token of a call
in flight (registered with `secret`) is masked wherever it appears in the line.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

MASK = "[redacted]"

# Loggers that see SOAP envelopes, URLs or our own messages. A logger's filter only applies to
# records created on that logger, so each one gets the filter itself.
REDACTED_LOGGERS = (
    "zeep",
    "zeep.transports",
    "zeep.client",
    "zeep.wsdl.bindings.soap",
    "urllib3.connectionpool",
    "payroll.nmbrs_soap",
    "payroll.nmbrs_soap.client",
    "payroll.nmbrs_soap.cli",
    "payroll.nmbrs_soap.sandbox.server",
)

_TOKEN_ELEMENT = re.compile(
    r"(<(?:[A-Za-z_][\w.-]*:)?Token\b[^>]*>)[^<]*(</(?:[A-Za-z_][\w.-]*:)?Token\s*>)"
)
_TOKEN_PAIR = re.compile(r"""(['"]?Token['"]?\s*[:=]\s*['"])[^'"]*(['"])""")
_SHORTEST_SECRET = 4

_lock = threading.Lock()
_secrets: Counter[str] = Counter()


@contextmanager
def secret(token: str) -> Iterator[None]:
    """Mask `token` in every log line while the block runs (nests and works across threads)."""
    if len(token) < _SHORTEST_SECRET:
        yield
        return
    with _lock:
        _secrets[token] += 1
    try:
        yield
    finally:
        with _lock:
            _secrets[token] -= 1
            if _secrets[token] <= 0:
                del _secrets[token]


def redact(text: str) -> str:
    text = _TOKEN_ELEMENT.sub(rf"\1{MASK}\2", text)
    text = _TOKEN_PAIR.sub(rf"\1{MASK}\2", text)
    with _lock:
        live = list(_secrets)
    for token in live:
        text = text.replace(token, MASK)
    return text


class RedactTokens(logging.Filter):
    """Renders the record's message once, masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactTokens()


def install() -> None:
    """Attach the filter to every logger in REDACTED_LOGGERS (idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
