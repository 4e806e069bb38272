"""The fake Nmbrs over real HTTP: identity service and REST API on one Starlette app, served by
uvicorn in a background thread on loopback. Latency and faults apply to the token, revocation
and API calls (not to the pages a person clicks)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from payroll.nmbrs_rest.sandbox import api, identity
from payroll.nmbrs_rest.sandbox.world import (
    InjectedFault,
    RecordedCall,
    SandboxApp,
    SandboxLogin,
    SandboxState,
    demo_logins,
)


def _fault_response(fault: InjectedFault) -> Response:
    if fault.kind == "api":
        response: Response = api.error_body(fault.code)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response
    if fault.kind == "html":
        return Response(
            f"<html><body><h1>{fault.status} Service Unavailable</h1></body></html>",
            status_code=fault.status,
            media_type="text/html",
        )
    return PlainTextResponse("<<< not json >>>")  # garbage


class _Knobs:
    """Records each call of an operation, then adds the latency and answers a fault when one
    is set for it."""

    def __init__(self, app: ASGIApp, state: SandboxState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = api.operation_of(scope["path"]) if scope["type"] == "http" else None
        if operation is None:
            await self.app(scope, receive, send)
            return
        call = self.state.record(operation, scope["path"], scope["query_string"].decode("latin-1"))
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        fault = self.state.take_fault(operation)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "hang":
            await asyncio.sleep(3600)  # cancelled when the server stops
        else:
            await _fault_response(fault)(scope, receive, send)
        self.state.answered(call)


def create_app(state: SandboxState) -> ASGIApp:
    app = Starlette(routes=identity.routes + api.routes)
    app.state.sandbox = state
    return _Knobs(app, state)


_REQUEST_FIELD = re.compile(r'name="request" value="([^"]+)"')


@dataclass
class SandboxHandle:
    """A running fake Nmbrs. Its `base_url` is both `NMBRS_IDENTITY_URL` and `NMBRS_REST_URL`;
    `state` (logins, the app, faults, latency) may change while it runs."""

    base_url: str
    state: SandboxState

    @property
    def app(self) -> SandboxApp:
        return self.state.app

    @property
    def latency(self) -> float:
        return self.state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.state.latency = seconds

    def login(self, email: str) -> SandboxLogin:
        return self.state.logins[email]

    def add_login(self, login: SandboxLogin) -> None:
        with self.state.lock:
            self.state.logins[login.email] = login

    def fail(self, fault: InjectedFault, operation: str = "*") -> None:
        self.state.fail(fault, operation)

    def heal(self) -> None:
        self.state.heal()

    def advance(self, seconds: float) -> None:
        """Let the sandbox's clock run on (codes, access and refresh tokens expire)."""
        self.state.offset += seconds

    @property
    def calls(self) -> list[RecordedCall]:
        with self.state.lock:
            return list(self.state.calls)

    def round_trips(self) -> int:
        """The longest chain of calls each made after the one before had been answered: the
        round trips a client needed for the calls recorded (0 for none)."""
        calls = sorted(self.calls, key=lambda call: call.at)
        depth: list[int] = []
        for n, call in enumerate(calls):
            before = [depth[m] for m in range(n) if (calls[m].answered or call.at) < call.at]
            depth.append(1 + max(before, default=0))
        return max(depth, default=0)

    def calls_to(self, operation: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.operation == operation]

    def clear_calls(self) -> None:
        with self.state.lock:
            self.state.calls.clear()

    def consent(
        self, authorization_url: str, login: str, *, approve: bool = True
    ) -> dict[str, str]:
        """What a person does in the browser: open the authorize URL, pick `login`, approve or
        refuse. Returns the query the browser is sent back with (code, scope, state or error);
        raises ValueError with the page's status when Nmbrs shows an error page instead."""
        with httpx.Client(timeout=10, follow_redirects=False, trust_env=False) as browser:
            start = browser.get(authorization_url)
            found = _REQUEST_FIELD.search(start.text)
            if start.status_code != 200 or found is None:
                raise ValueError(f"the authorize page answered {start.status_code}")
            picked = browser.post(
                f"{self.base_url}/connect/login", data={"request": found[1], "login": login}
            )
            if picked.status_code != 200:
                raise ValueError(f"the login page answered {picked.status_code}")
            decided = browser.post(
                f"{self.base_url}/connect/consent",
                data={
                    "request": found[1],
                    "login": login,
                    "decision": "approve" if approve else "refuse",
                },
            )
        if decided.status_code != 302:
            raise ValueError(f"the consent page answered {decided.status_code}")
        return dict(parse_qsl(urlsplit(decided.headers["location"]).query))


@contextmanager
def _serve(app: ASGIApp, port: int) -> Iterator[str]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,  # the callback's query and the codes stay out of every log
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"nmbrs-rest-{id(server)}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Nmbrs REST sandbox did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def run_rest_sandbox(
    logins: Iterable[SandboxLogin] | None = None,
    *,
    redirect_uris: Iterable[str] = (),
    port: int = 0,
    latency: float = 0.0,
    **app: Any,
) -> Iterator[SandboxHandle]:
    """Serve the fake Nmbrs identity service and REST API on 127.0.0.1 (`port` 0 picks a free
    one) until the block ends. `logins` defaults to `demo_logins()`; `redirect_uris` are the
    app's registered ones (more may be appended to `handle.app.redirect_uris`); other keyword
    arguments go to `SandboxApp`."""
    state = SandboxState(
        demo_logins() if logins is None else logins,
        SandboxApp(redirect_uris=list(redirect_uris), **app),
        latency=latency,
    )
    with _serve(create_app(state), port) as url:
        yield SandboxHandle(url, state)
