"""Slowloris on `onboard-bot serve`: hundreds of connections that send half their headers and
then nothing, more than the process has open files for. The served process closes them after
its header timeout, so GET /healthz is answered again, and the error asyncio raises for every
connection it cannot accept is logged once, not in a loop. And a request answered before its
body was all sent (a 404, a 413) has its connection closed, the rest of the body unread."""

from __future__ import annotations

import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devslack import DevSlack
from payroll.nmbrs_soap.sandbox import SandboxHandle
from storage.db import upgrade
from tests.served import serve_environment

STARTUP_SECONDS = 30
# More connections than the process may open files: accepting them runs out (EMFILE).
OPEN_FILES = 256
SLOW_CONNECTIONS = 300
# Generous: the header timeout is a few seconds; before it, /healthz went unanswered for good.
HEALTH_PATIENCE_SECONDS = 60
HALF_HEADERS = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: appli"


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    log: Path

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve_with_open_files(
    slack: DevSlack, nmbrs: SandboxHandle, tmp_path: Path
) -> Iterator[Callable[[int, int], Served]]:
    """Starts `onboard-bot serve` (as deployed, on SQLite: the database plays no part) under an
    open-file limit of (soft, hard); every process started is killed at the end."""
    database_url = f"sqlite:///{tmp_path / 'onboarding.db'}"
    upgrade(database_url)
    environment = serve_environment(database_url, slack, nmbrs)
    started: list[subprocess.Popen] = []

    def start(soft: int, hard: int) -> Served:
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
        )
        started.append(process)
        served = Served(process, f"http://127.0.0.1:{port}", log)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not answers_healthz(served, timeout=1):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        return served

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def answers_healthz(served: Served, *, timeout: float) -> bool:
    try:
        return httpx.get(f"{served.url}/healthz", timeout=timeout).status_code == 200
    except httpx.TransportError:
        return False


def open_slow_connections(served: Served, stack: ExitStack, count: int) -> int:
    """`count` connections, each with half its headers sent; how many the kernel took."""
    host, port = "127.0.0.1", int(served.url.rsplit(":", 1)[1])
    opened = 0
    for _ in range(count):
        try:
            connection = stack.enter_context(socket.create_connection((host, port), timeout=2))
            connection.sendall(HALF_HEADERS)
            opened += 1
        except OSError:  # the kernel's queue of unaccepted connections is full
            pass
    return opened


def open_files_limit(process: subprocess.Popen) -> tuple[int, int]:
    for line in Path(f"/proc/{process.pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc")


def test_half_sent_headers_beyond_the_open_files_neither_block_health_nor_flood_the_log(
    serve_with_open_files: Callable[[int, int], Served],
) -> None:
    served = serve_with_open_files(OPEN_FILES, OPEN_FILES)
    lines_before = len(served.log_lines())
    with ExitStack() as stack:
        assert open_slow_connections(served, stack, SLOW_CONNECTIONS) > OPEN_FILES
        deadline = time.monotonic() + HEALTH_PATIENCE_SECONDS
        while not answers_healthz(served, timeout=5) and time.monotonic() < deadline:
            time.sleep(0.5)
        answered = answers_healthz(served, timeout=5)
        lines = served.log_lines()[lines_before:]
    assert answered
    accept_errors = [line for line in lines if "socket.accept() out of system resource" in line]
    assert 1 <= len(accept_errors) <= 2
    assert len(lines) < 100


def test_serve_raises_its_open_file_limit_to_the_hard_limit(
    serve_with_open_files: Callable[[int, int], Served],
) -> None:
    served = serve_with_open_files(OPEN_FILES, 4 * OPEN_FILES)
    assert open_files_limit(served.process) == (4 * OPEN_FILES, 4 * OPEN_FILES)


def test_a_request_answered_before_its_body_was_sent_is_closed_with_the_rest_unread(
    serve_with_open_files: Callable[[int, int], Served],
) -> None:
    served = serve_with_open_files(1024, 1024)
    declared = 256 * 1024 * 1024
    host, port = "127.0.0.1", int(served.url.rsplit(":", 1)[1])
    sent, stopped_by = [0], []

    def send_the_body(connection: socket.socket) -> None:
        try:
            while sent[0] < declared:
                connection.sendall(b"x" * 65536)
                sent[0] += 65536
        except OSError as error:  # the bot closed the connection
            stopped_by.append(error)

    with socket.create_connection((host, port), timeout=30) as connection:
        head = f"POST /nowhere HTTP/1.1\r\nHost: bot\r\nContent-Length: {declared}\r\n\r\n"
        connection.sendall(head.encode())
        sender = threading.Thread(target=send_the_body, args=(connection,), daemon=True)
        sender.start()
        answer = connection.recv(200)
        sender.join(timeout=30)
    assert answer.startswith(b"HTTP/1.1 404")
    assert stopped_by
    assert sent[0] < declared
