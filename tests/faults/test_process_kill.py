"""`onboard-bot serve` killed with SIGKILL between two steps, and in the middle of one (while
Nmbrs checks the credentials, after the ack); a new process on the same database carries on:
nothing is lost and nothing is half done. The kill takes serve's processes all at once (its
use-case process too), as a crash of the machine or a process manager's SIGKILL of the group
would."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.transports.slack.views.manager import CALLBACK_START
from bot.transports.slack.views.onboarding import ACTION_COMPANIES, CALLBACK_CREDENTIALS
from devslack import DevSlack, SlackUser
from devslack.workspace import MANAGER
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.db import make_engine, upgrade
from storage.models import Onboarding
from tests.e2e.journey import (
    CHANNEL,
    accept_terms,
    enter_credentials,
    settled,
    start,
)
from tests.served import database_rows, serve_environment

ALL_COMPANIES = ["48201", "48202", "48203", "48204", "48205"]
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serve(
    database_url: str, slack: DevSlack, nmbrs: SandboxHandle, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen]]:
    """Starts `onboard-bot serve` (as deployed: settings from the environment) and points the
    fake Slack at it; every process started is killed at the end."""
    upgrade(database_url)
    environment = serve_environment(database_url, slack, nmbrs)
    started: list[subprocess.Popen] = []

    def start_process() -> subprocess.Popen:
        port = free_port()
        log = (tmp_path / f"serve-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=tmp_path,  # no .env file of the repository
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, for `kill`
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, (tmp_path / f"serve-{len(started) - 1}.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        slack.connect(f"{url}/slack/events")
        return process

    yield start_process
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def kill(process: subprocess.Popen) -> None:
    """serve and its use-case process at once."""
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


def invite_by_the_manager(manager: SlackUser) -> None:
    manager.command("/onboard", channel=CHANNEL)
    view = manager.wait_for_modal(lambda v: v.callback_id == CALLBACK_START, timeout=10)
    manager.fill(
        view,
        {
            "client_name.value": "Bakkerij de Vries",
            "channel.value": CHANNEL,
            "language.value": "en",
        },
    )
    manager.submit(view)


def test_killed_between_two_steps_and_within_one_a_new_process_carries_on(
    serve, slack: DevSlack, customer: SlackUser, nmbrs: SandboxHandle, database_url: str
) -> None:
    first = serve()
    invite_by_the_manager(slack.user(MANAGER))
    start(customer)
    accept_terms(customer)
    preparation = customer.modal
    kill(first)  # between two steps

    second = serve()
    customer.submit(preparation)
    credentials = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(credentials, {"username": DEMO_USERNAME, "token": DEMO_TOKEN})
    nmbrs.latency = 0.5
    checks = len(nmbrs.calls)
    customer.submit(credentials)  # acked with "One moment"; Nmbrs is checked after
    slack.wait_for(lambda: len(nmbrs.calls) > checks)
    kill(second)  # in the middle of the check
    nmbrs.latency = 0.0

    serve()
    assert start(customer).callback_id == CALLBACK_CREDENTIALS
    [onboarding] = _onboardings(rows_of(database_url))
    assert (onboarding.state, onboarding.pending_token) == ("terms_accepted", None)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: ALL_COMPANIES})
    customer.submit(companies)
    assert settled(customer).title == "Connected"
    rows = rows_of(database_url)
    assert [row.state for row in _onboardings(rows)] == ["completed"]
    assert len(rows["payrolllink"]) == 1


def rows_of(database_url: str) -> dict[str, list[tuple]]:
    engine = make_engine(database_url)
    try:
        return database_rows(engine)
    finally:
        engine.dispose()


def _onboardings(rows: dict[str, list[tuple]]) -> list[Onboarding]:
    columns = [column.name for column in Onboarding.__table__.columns]
    return [Onboarding(**dict(zip(columns, row, strict=True))) for row in rows["onboarding"]]
