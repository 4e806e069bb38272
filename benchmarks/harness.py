"""What the served benchmarks share: the machine, percentiles, a fresh PostgreSQL or SQLite
database, the Nmbrs sandboxes (SOAP, and the fake REST API with its identity service) each in a
process of its own, and the bot served by `onboard-bot serve` in another.

Everything listens on loopback only. Every wait here is bounded in time.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.memory import Memory, tree_memory
from devslack import DevSlack
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    SandboxLogin,
    run_rest_sandbox,
)
from payroll.nmbrs_soap.sandbox import SandboxAccount, run_sandbox
from storage.crypto import generate_key
from storage.db import upgrade

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/onboarding_bench"
TERMS_URL = "https://example.com/algemene-voorwaarden"
SUPPORT_PHONE = "020 123 45 67"
STATUS_CHANNEL = "C0STATUS"
START_TIMEOUT_SECONDS = 90.0  # start-up of serve on a machine busy with other work takes long
VENV_BIN = Path(sys.executable).parent


# -- the machine and the figures ---------------------------------------------------------------


def machine_summary() -> str:
    """CPU model, cores, memory and Python version, as the README shows them."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f", {total_kib / 1024 / 1024:.0f} GiB memory"
    return (
        f"{model}, {os.cpu_count()} cores{memory}, "
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"
    )


def load_average() -> str:
    """The machine's load average: how busy it was with everything else (tests of others...)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction 0.99 for p99); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without math
    return ordered[int(rank) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


# -- loopback ports, the database, the sandbox --------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_database(url: str = DEFAULT_DATABASE_URL) -> str:
    """Drop and create the benchmark's own PostgreSQL database, migrated to the newest schema."""
    target = make_url(url)
    if target.get_backend_name() != "postgresql":
        raise SystemExit(f"the served benchmarks need PostgreSQL, not {target.drivername}")
    host = target.host or ""
    if host not in ("127.0.0.1", "localhost", "::1", ""):
        raise SystemExit("the benchmarks only use a database on this machine (loopback)")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    upgrade(url)
    return url


@contextmanager
def fresh_sqlite_database() -> Iterator[str]:
    """A new SQLite file database in a temporary directory, migrated to the newest schema; the
    directory is removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as directory:
        url = f"sqlite:///{Path(directory) / 'onboarding.db'}"
        upgrade(url)
        yield url


def _serve_sandbox(
    accounts_factory: Callable[[], list[SandboxAccount]], latency: float, connection
) -> None:
    with run_sandbox(accounts_factory(), latency=latency) as handle:
        connection.send(handle.base_url)
        connection.recv()  # until the benchmark says stop (or goes away)


@contextmanager
def sandbox_process(
    accounts_factory: Callable[[], list[SandboxAccount]], *, latency: float
) -> Iterator[str]:
    """The Nmbrs sandbox in a process of its own (so its CPU is not the bot's nor the driver's);
    yields its base URL. `accounts_factory` must be a module-level function."""
    with _fake_in_a_process(
        "the Nmbrs sandbox", _serve_sandbox, accounts_factory, latency
    ) as base_url:
        yield base_url


def _serve_rest_sandbox(
    logins_factory: Callable[[], list[SandboxLogin]],
    redirect_uris: list[str],
    latency: float,
    connection,
) -> None:
    with run_rest_sandbox(logins_factory(), redirect_uris=redirect_uris, latency=latency) as fake:
        connection.send(fake.base_url)
        connection.recv()  # until the benchmark says stop (or goes away)


@contextmanager
def rest_sandbox_process(
    logins_factory: Callable[[], list[SandboxLogin]],
    *,
    redirect_uris: list[str],
    latency: float,
) -> Iterator[str]:
    """The fake Nmbrs REST API and identity service (payroll.nmbrs_rest.sandbox) in a process of
    its own, `latency` added to its token and API calls (not to the pages a person clicks);
    yields its base URL (both NMBRS_REST_URL and NMBRS_IDENTITY_URL). `logins_factory` must be a
    module-level function (or a partial of one)."""
    with _fake_in_a_process(
        "the fake Nmbrs REST API", _serve_rest_sandbox, logins_factory, redirect_uris, latency
    ) as base_url:
        yield base_url


@contextmanager
def _fake_in_a_process(name: str, serve: Callable[..., None], *arguments: Any) -> Iterator[str]:
    """`serve(*arguments, connection)` in a spawned process: it sends its base URL, serves
    until told to stop (or the benchmark goes away); yields the URL."""
    with fake_in_a_process(name, serve, *arguments) as (base_url, _connection):
        yield base_url


@contextmanager
def fake_in_a_process(
    name: str,
    serve: Callable[..., None],
    *arguments: Any,
    stop: Any = "stop",
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[tuple[str, Connection]]:
    """`serve(*arguments, connection)` in a spawned process (so its CPU is not the bot's nor
    the driver's): it sends its base URL first, then serves until it receives `stop` (or the
    benchmark goes away); yields the URL and the benchmark's end of the connection, for
    whatever else the two say to each other."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(*arguments, theirs), daemon=True)
    process.start()
    try:
        if not ours.poll(timeout):
            raise RuntimeError(f"{name} did not start")
        yield ours.recv(), ours
    finally:
        with suppress(OSError):
            ours.send(stop)
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


# -- the served bot -----------------------------------------------------------------------------


@dataclass
class ServedProcess:
    """An ASGI app served by uvicorn in a subprocess on loopback."""

    name: str
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def rss_bytes(self) -> int:
        """Resident memory of the serving process and of every process it started, summed."""
        return self.memory().rss

    def memory(self) -> Memory:
        """RSS and PSS of the serving process tree, its processes and threads."""
        return tree_memory(self.process.pid)


def bot_environment(
    slack: DevSlack, *, database_url: str, nmbrs_base_url: str, **extra: str
) -> dict[str, str]:
    """The settings `serve` reads, as environment variables, for a bot on the fake Slack."""
    values = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": generate_key(),
        # The served benchmarks drive the SOAP credential step against the SOAP sandbox.
        "NMBRS_API": "soap",
        "NMBRS_BASE_URL": nmbrs_base_url,
        "STATUS_CHANNEL": STATUS_CHANNEL,
        "ACCOUNT_MANAGER_GROUP": "*",  # every manager of the load's workspace
        "TERMS_URL": TERMS_URL,
        "SUPPORT_PHONE": SUPPORT_PHONE,
        "OUTBOX_CHANNEL_INTERVAL_SECONDS": "0",
        "OUTBOX_POLL_SECONDS": "0.2",
    }
    values.update(extra)
    return values


def rest_environment(*, public_url: str, nmbrs_rest_url: str) -> dict[str, str]:
    """What turns bot_environment's bot to the Nmbrs REST API (serve's default, NMBRS_API=rest):
    new onboardings link by the customer's consent in the browser at the fake Nmbrs at
    `nmbrs_rest_url`, which sends the browser back to {public_url}/nmbrs/callback."""
    return {
        "NMBRS_API": "rest",
        "NMBRS_REST_URL": nmbrs_rest_url,
        "NMBRS_IDENTITY_URL": nmbrs_rest_url,
        "NMBRS_CLIENT_ID": DEMO_CLIENT_ID,
        "NMBRS_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "NMBRS_SUBSCRIPTION_KEY": DEMO_SUBSCRIPTION_KEY,
        "PUBLIC_URL": public_url,
    }


@contextmanager
def served(name: str, command: list[str], environment: dict[str, str]) -> Iterator[ServedProcess]:
    """Run `command` (which must serve on the port in environment["PORT"]) until the block ends;
    ready once GET /healthz answers 200. Output goes to a log file, not the terminal."""
    port = int(environment["PORT"])
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))  # no .env to pick up
    log = workdir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env={**os.environ, **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    handle = ServedProcess(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_healthy(handle)
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def onboard_bot_serve(environment: dict[str, str], *, workers: int = 1, port: int | None = None):
    """`onboard-bot serve` on `port` (a free loopback one unless given), as a context manager
    yielding the handle."""
    port = port or free_port()
    command = [str(VENV_BIN / "onboard-bot"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    return served("onboard-bot", command, {**environment, "PORT": str(port)})


def _wait_until_healthy(handle: ServedProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if handle.process.poll() is not None:
                raise RuntimeError(
                    f"{handle.name} exited with {handle.process.returncode}: "
                    + handle.log.read_text()[-2000:]
                )
            try:
                if client.get(f"{handle.url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{handle.name} did not answer /healthz within {START_TIMEOUT_SECONDS} s")
