"""One aiohttp session (a pool of kept-alive connections) for every async Web API client of the
process: bolt's, the outbox worker's, the token check's and the response_url replies.

Without it every Web API call opens and closes a connection of its own (about a fifth of the event
loop's time under load). Whatever needs the session holds it open with `async with
session.open():` (the served app's lifespan, the outbox worker); the first opener creates it and
hands it to every client `share_with` was given, the last one closes it, so it lives exactly as
long as the process serves. The session belongs to the event loop that opened it: a client used
on another loop meanwhile (a test's `asyncio.run`) needs a container of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

import aiohttp

CONNECTION_LIMIT = 100


class _UsesSession(Protocol):
    session: aiohttp.ClientSession | None


Client = TypeVar("Client", bound=_UsesSession)


class SharedSession:
    def __init__(self, *, timeout: float):
        self._timeout = timeout
        self._clients: list[_UsesSession] = []
        self._session: aiohttp.ClientSession | None = None
        self._holders = 0

    def share_with(self, client: Client) -> Client:
        """`client` uses the session whenever it is open; returns the client."""
        self._clients.append(client)
        client.session = self._session
        return client

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The open session, None while nothing holds it open."""
        return self._session

    @asynccontextmanager
    async def open(self) -> AsyncIterator[aiohttp.ClientSession]:
        if self._session is None:
            # The clients apply their timeout only to sessions they make themselves: give it here.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTION_LIMIT),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
            for client in self._clients:
                client.session = self._session
        session = self._session
        self._holders += 1
        try:
            yield session
        finally:
            self._holders -= 1
            if self._holders == 0:
                self._session = None
                for client in self._clients:
                    client.session = None
                await session.close()
