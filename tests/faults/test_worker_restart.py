"""A worker of `onboard-bot serve --workers 2` dies: serve starts a new one, which answers. A
worker that dies at once every time makes serve give up with exit code 1, for the process
manager to take over. (Before, nothing restarted a dead worker: serve carried on with fewer.)"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devslack import DevSlack
from payroll.nmbrs_soap.sandbox import SandboxHandle
from tests.served import STARTUP_SECONDS, ServedWorkers, serve_workers

# The default restart policy gives up after 5 quick deaths, backing off 1 + 2 + 4 + 8 s.
GIVE_UP_SECONDS = 60


@pytest.fixture
def served_workers(
    database_url: str, slack: DevSlack, nmbrs: SandboxHandle, tmp_path: Path
) -> Iterator[ServedWorkers]:
    if not database_url.startswith("postgresql"):
        pytest.skip("serve --workers above 1 runs on PostgreSQL only")
    with serve_workers(database_url, slack, nmbrs, tmp_path, workers=2) as served:
        yield served


def wait_for(condition, what: str, seconds: float = STARTUP_SECONDS):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return result


def test_a_killed_worker_is_replaced_by_one_that_answers(served_workers: ServedWorkers) -> None:
    first, second = sorted(served_workers.workers())

    os.kill(first, signal.SIGKILL)
    replacement = wait_for(lambda: served_workers.workers() - {first, second}, "a new worker")
    os.kill(second, signal.SIGSTOP)  # from now on only the new worker accepts connections
    try:
        wait_for(served_workers.healthy, "the new worker answers /healthz")
    finally:
        os.kill(second, signal.SIGCONT)

    assert served_workers.process.poll() is None
    assert served_workers.workers() == {second, *replacement}
    assert f"(pid {first}) exited with code -9" in served_workers.log.read_text()


def test_a_worker_that_dies_at_once_every_time_makes_serve_exit_1(
    served_workers: ServedWorkers,
) -> None:
    crashing, survivor = sorted(served_workers.workers())
    os.kill(crashing, signal.SIGKILL)
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while served_workers.process.poll() is None:  # every replacement dies as soon as it exists
        assert time.monotonic() < deadline, "serve did not give up"
        for pid in served_workers.workers() - {survivor}:
            # Listed a moment ago, it may be gone already (serve stopped it, or it exited).
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)

    assert served_workers.process.returncode == 1
    log = served_workers.log.read_text()
    assert "died 5 times in a row" in log and "exiting 1" in log
    assert served_workers.workers() == set(), "the survivor is stopped too"
