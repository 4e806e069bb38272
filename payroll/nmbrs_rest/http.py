"""HTTP plumbing shared by the identity service and the API clients: explicit timeouts and a cap
on the size of every answer, so a misbehaving server can neither hang a worker nor fill memory."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from functools import cache

import httpx

# A page of 100 companies is some 20 KB; a token answer under 10 KB.
MAX_ANSWER_BYTES = 2 * 2**20


class AnswerTooLarge(httpx.TransportError):
    """An answer grew past the cap while it was read."""


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, limit: int):
        self._stream = stream
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._stream:
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(f"the answer is larger than {self._limit} bytes")
            yield chunk

    def close(self) -> None:
        self._stream.close()


class CappedTransport(httpx.HTTPTransport):
    """An HTTP transport whose answers raise `AnswerTooLarge` past `max_answer_bytes`."""

    def __init__(
        self,
        *,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        limits: httpx.Limits,
        verify: ssl.SSLContext | None = None,
    ):
        super().__init__(limits=limits, verify=verify or tls_context())
        self._limit = max_answer_bytes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, self._limit),
            extensions=response.extensions,
        )


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's TLS settings (certifi's roots), built once: loading them takes some 0.1 s of CPU,
    and the identity client opens a transport per exchange."""
    return httpx.create_ssl_context()


def timeouts(connect: float, read: float) -> httpx.Timeout:
    """Connect and read as given; writing a request and waiting for a pooled connection get the
    read timeout too."""
    return httpx.Timeout(read, connect=connect)
