"""How `serve` runs uvicorn with bounds a caller cannot push past: connections, the kernel's
queue of unaccepted ones, how long a request may take to send its headers or sit idle between
two, and the process's open files. The body's size and time are bounded in the app itself
(bot.transports.slack.http). The proxy in front should bound them too (README, production).

And its memory: glibc gives each thread that allocates a malloc arena of its own (up to 8 per
core), and keeps freed memory in them. With the use-case and Nmbrs threads that held ~400 MiB
after the ack benchmark; `serve` allows two arenas and hands free memory back to the system
once a burst of requests is over (README, performance).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import resource
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.logs import strip_query_strings_from_access_log

# A request's headers arrive within this many seconds of its first byte, or the connection is
# closed (uvicorn has no such timeout: a client sending half its headers held a connection
# for good). Slack and a proxy send them at once.
HEADER_TIMEOUT_SECONDS = 5.0
# An idle kept-alive connection is closed after this; a proxy's idle upstream connections must
# be closed sooner (README, production).
KEEP_ALIVE_SECONDS = 5
# Connections not yet accepted that the kernel queues for the listening socket.
LISTEN_BACKLOG = 128
# Connections (and requests) at once; beyond it uvicorn answers 503.
MAX_CONNECTIONS = 1000
# Open files kept for what is not a client connection: the database pool, Slack's and Nmbrs'
# connections, the log, the interpreter's own.
FILE_HEADROOM = 128
MIN_CONNECTIONS = 16
# A connection answered before its body was all sent is closed this long after the answer,
# having thrown away at most this much more of the body (then it stops reading): closing at
# once, with body bytes unread, makes the kernel reset the connection, and the client may
# never see the answer (the 413).
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    HEADER_TIMEOUT_SECONDS after they began (or after the connection opened), and one answered
    before its request's body was all sent (a 413, a 404), instead of reading the rest: its
    answer is sent with the end of our side, at most LINGER_BYTES more of the body are thrown
    away, and LINGER_SECONDS after the answer it is closed."""

    header_timeout: float = HEADER_TIMEOUT_SECONDS
    _header_timer: asyncio.TimerHandle | None = None
    _socket_transport: asyncio.Transport
    _lingering: int | None = None  # body bytes thrown away since the answer, while lingering

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._socket_transport = transport
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            self._lingering += len(data)
            if self._lingering > LINGER_BYTES:
                self.transport.pause_reading()  # the client's sends now wait until the close
            return
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # a next request on a kept-alive connection begins
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        if self.body_unread and not self.transport.is_closing():
            self.linger()
        super().on_response_complete()  # counts the request and resumes reading: to drain

    @property
    def body_unread(self) -> bool:
        return self._lingering is None and self.conn.their_state is h11.SEND_BODY

    def linger(self) -> None:
        self._lingering = 0
        if self._socket_transport.can_write_eof():
            self._socket_transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self._socket_transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class _LingeringTransport:
    """The socket transport as uvicorn's protocol sees it: its close() (uvicorn closes after an
    answer with `connection: close`) lingers while the request's body is unread."""

    def __init__(self, transport: asyncio.Transport, protocol: HeaderTimeoutProtocol):
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol.body_unread and not self._transport.is_closing():
            self._protocol.linger()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def raise_open_file_limit() -> int:
    """Raise the soft limit of open files to the hard one (often 1024 of 524288 under systemd);
    the soft limit now in force (unchanged where the system refuses, as macOS does for an
    unlimited hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


def connection_limit(open_file_limit: int) -> int:
    """MAX_CONNECTIONS, or fewer when the open-file limit would run out first."""
    if open_file_limit == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, open_file_limit - FILE_HEADROOM))


def uvicorn_config(app: Any, *, host: str, port: int) -> uvicorn.Config:
    """The bounded uvicorn config `serve` runs. log_config=None: uvicorn's own loggers go
    through configure_logging's handler (and its filter of repeated errors) too; its access
    log never shows a query string (bot.logs.QueryStringFilter)."""
    strip_query_strings_from_access_log()
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        http=HeaderTimeoutProtocol,
        limit_concurrency=connection_limit(open_files),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        backlog=LISTEN_BACKLOG,
    )


# -- memory -----------------------------------------------------------------------------------

# glibc's mallopt parameter for the number of arenas (malloc.h); two, as MALLOC_ARENA_MAX=2.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
# A burst is over when no request was answered for this long.
QUIET_SECONDS = 5.0


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def limit_malloc_arenas() -> bool:
    """At most MALLOC_ARENAS malloc arenas for all threads (before any thread is started);
    False where the C library is not glibc."""
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS) == 1


def release_free_memory() -> None:
    """Hand the malloc arenas' free pages back to the system (glibc's malloc_trim)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class MemoryTrimmer:
    """Releases free memory once after each burst of requests: when `requests_answered` has
    grown, then stayed the same for QUIET_SECONDS."""

    def __init__(
        self,
        requests_answered: Callable[[], int],
        *,
        quiet_seconds: float = QUIET_SECONDS,
        release: Callable[[], None] = release_free_memory,
    ):
        self._requests_answered = requests_answered
        self._quiet_seconds = quiet_seconds
        self._release = release
        self._seen = self._released_at = requests_answered()

    def due(self, answered: int) -> bool:
        """Whether to release now, `answered` requests having been answered by this look (one
        look every QUIET_SECONDS): the count grew since the last release and is still."""
        quiet_after_a_burst = answered == self._seen and answered != self._released_at
        if quiet_after_a_burst:
            self._released_at = answered
        self._seen = answered
        return quiet_after_a_burst

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._quiet_seconds)
            if self.due(self._requests_answered()):
                await asyncio.to_thread(self._release)
