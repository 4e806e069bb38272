"""Fixtures for the Nmbrs provider: the sandbox over real HTTP, providers pointed at it, and a
tiny server that answers with hand-written SOAP fixture files exactly as they are on disk."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from payroll.nmbrs_soap.client import SoapNmbrsClient
from payroll.nmbrs_soap.model import Credentials
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    SandboxHandle,
    demo_accounts,
    run_sandbox,
)

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[SandboxHandle]:
    """One sandbox per test module; `sandbox` resets it for each test."""
    with run_sandbox() as handle:
        yield handle


@pytest.fixture
def sandbox(running_sandbox: SandboxHandle) -> SandboxHandle:
    running_sandbox.accounts.reset(demo_accounts())
    running_sandbox.latency = 0.0
    running_sandbox.chunked = False
    running_sandbox.clear_calls()
    return running_sandbox


@pytest.fixture
def provider(sandbox: SandboxHandle) -> Iterator[SoapNmbrsClient]:
    nmbrs = SoapNmbrsClient(sandbox.base_url, connect_timeout=1.0, read_timeout=5.0)
    yield nmbrs
    nmbrs.close()


@pytest.fixture
def impatient_provider(sandbox: SandboxHandle) -> Iterator[SoapNmbrsClient]:
    """A provider with a short read timeout, for servers that never answer."""
    nmbrs = SoapNmbrsClient(sandbox.base_url, connect_timeout=0.5, read_timeout=0.3)
    yield nmbrs
    nmbrs.close()


@pytest.fixture
def demo() -> Credentials:
    return Credentials(DEMO_USERNAME, DEMO_TOKEN)


def credentials_of(sandbox: SandboxHandle, username: str) -> Credentials:
    return Credentials(username, sandbox.accounts[username].token)


# -- fixture server ---------------------------------------------------------------------------

_SOAP_ACTION = re.compile(r"/soap/v3/(\w+)/(\w+)\"?$")

# What the fixture server answers: a fixture file name with an HTTP status, or a function of the
# request body giving (status, body).
Reply = tuple[int, str] | Callable[[bytes], tuple[int, bytes]]


@dataclass
class FixtureServer:
    """Answers each `Service.Operation` (taken from the SOAPAction) with its scripted reply."""

    base_url: str
    script: dict[str, Reply] = field(default_factory=dict)
    default: Reply | None = None
    received: list[str] = field(default_factory=list)

    def reply(self, operation: str, body: bytes) -> tuple[int, bytes]:
        self.received.append(operation)
        reply = self.script.get(operation, self.default)
        if reply is None:
            return 404, b"no fixture for " + operation.encode()
        if callable(reply):
            return reply(body)
        status, name = reply
        return status, (FIXTURES / name).read_bytes()


@pytest.fixture
def fixture_server() -> Iterator[FixtureServer]:
    holder: dict[str, FixtureServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _SOAP_ACTION.search(self.headers.get("SOAPAction", ""))
            operation = f"{match[1]}.{match[2]}" if match else "?"
            status, content = holder["server"].reply(operation, body)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the concurrent probes connect at once

    server = Server(("127.0.0.1", 0), Handler)
    holder["server"] = FixtureServer(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield holder["server"]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def fixture_provider(fixture_server: FixtureServer) -> Iterator[SoapNmbrsClient]:
    nmbrs = SoapNmbrsClient(fixture_server.base_url, connect_timeout=1.0, read_timeout=5.0)
    yield nmbrs
    nmbrs.close()
