"""The sandbox over real HTTP: a threading HTTP server on loopback, one thread per connection,
so concurrent calls with injected latency overlap the way they do at Nmbrs."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from payroll.nmbrs_soap.sandbox.accounts import AccountRegistry, SandboxAccount, demo_accounts
from payroll.nmbrs_soap.sandbox.answers import (
    SERVICES,
    RecordedCall,
    SandboxState,
    StartedReport,
    answer,
)

logger = logging.getLogger(__name__)

WSDL_DIR = Path(__file__).resolve().parent.parent / "wsdl"
_CHUNK_BYTES = 64 * 1024
_SERVICE_PATH = re.compile(r"^/soap/v3/(?P<service>\w+)\.asmx$", re.IGNORECASE)


@dataclass
class SandboxHandle:
    """A running sandbox. `accounts`, `latency`, `chunked` and every account may be changed while
    it runs."""

    base_url: str
    state: SandboxState

    @property
    def accounts(self) -> AccountRegistry:
        return self.state.accounts

    @property
    def latency(self) -> float:
        return self.state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.state.latency = seconds

    @property
    def chunked(self) -> bool:
        """Whether answers come in chunks without a Content-Length (as a stream may)."""
        return self.state.chunked

    @chunked.setter
    def chunked(self, value: bool) -> None:
        self.state.chunked = value

    @property
    def calls(self) -> list[RecordedCall]:
        return list(self.state.calls)

    @property
    def started_reports(self) -> list[StartedReport]:
        return list(self.state.started_reports)

    def calls_to(self, operation: str) -> list[RecordedCall]:
        """The calls received of `Service.Operation`."""
        return self.state.calls_to(operation)

    def clear_calls(self) -> None:
        self.state.clear_calls()

    def wsdl_url(self, service: str) -> str:
        return f"{self.base_url}/soap/v3/{service}.asmx?WSDL"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many probes connect at once; the default backlog of 5 drops SYNs

    def __init__(self, port: int, state: SandboxState):
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state
        self.stopping = threading.Event()
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"
        self._wsdls: dict[str, bytes] = {}

    def wsdl(self, service: str) -> bytes:
        if service not in self._wsdls:
            text = (WSDL_DIR / f"{service}.wsdl").read_text(encoding="utf-8")
            text = text.replace(
                f'location="https://api.nmbrs.nl/soap/v3/{service}.asmx"',
                f'location="{self.base_url}/soap/v3/{service}.asmx"',
            )
            self._wsdls[service] = text.encode("utf-8")
        return self._wsdls[service]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        service = self._service(url.path)
        if service and "wsdl" in {key.lower() for key in parse_qs(url.query, True)}:
            self._send(200, self.server.wsdl(service), "text/xml; charset=utf-8")
        elif url.path == "/":
            index = "".join(f"{self.server.base_url}/soap/v3/{s}.asmx\n" for s in SERVICES)
            self._send(200, f"Nmbrs SOAP v3 sandbox\n{index}".encode(), "text/plain")
        else:
            self._send(404, b"Not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        service = self._service(urlsplit(self.path).path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if service is None:
            self._send(404, b"Not found", "text/plain")
            return
        reply = answer(self.server.state, service, self.headers.get("SOAPAction", ""), body)
        if reply.delay and self.server.stopping.wait(reply.delay):
            return
        if reply.hang:
            self.server.stopping.wait()
            self.close_connection = True
            return
        if self.server.state.chunked:
            self._send_chunked(reply.status, reply.body, reply.content_type)
        else:
            self._send(reply.status, reply.body, reply.content_type)

    def _service(self, path: str) -> str | None:
        match = _SERVICE_PATH.match(path)
        if match is None:
            return None
        return next((s for s in SERVICES if s.lower() == match["service"].lower()), None)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading

    def _send_chunked(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(body), _CHUNK_BYTES):
                chunk = body[start : start + _CHUNK_BYTES]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("%s %s", self.address_string(), format % args)


@contextmanager
def run_sandbox(
    accounts: Iterable[SandboxAccount] | None = None, *, port: int = 0, latency: float = 0.0
) -> Iterator[SandboxHandle]:
    """Serve the Nmbrs SOAP v3 sandbox on 127.0.0.1 (`port` 0 picks a free one) until the block
    ends. `accounts` defaults to `demo_accounts()`; `latency` is added to every call."""
    state = SandboxState(
        AccountRegistry(demo_accounts() if accounts is None else accounts), latency=latency
    )
    server = _Server(port, state)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield SandboxHandle(server.base_url, state)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
