"""`serve --workers N`: keeps N forked worker processes running, restarting one that dies.

A worker that dies is started again; one that dies soon after it started (QUICK_DEATH_SECONDS)
is started again after a back-off that doubles with each quick death in a row, so a crash loop
does not spin. After MAX_QUICK_DEATHS quick deaths in a row of one worker, the pool stops the
others and `serve` exits 1: what kills it is not going away by itself, and the process manager
(systemd, Kubernetes) takes over with its own restart policy and alerting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for_sentinels
from typing import Protocol

logger = logging.getLogger(__name__)


class Worker(Protocol):
    """What the pool needs of a worker process (multiprocessing.Process has it)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None: ...

    @property
    def sentinel(self) -> int: ...

    def start(self) -> None: ...

    def terminate(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    # A worker that dies within this many seconds of its start died quickly.
    quick_death_seconds: float = 60.0
    # This many quick deaths in a row of one worker: give up, stop the others, exit 1.
    max_quick_deaths: int = 5
    # The back-off before restarting after the first quick death, doubled after each further
    # one up to the maximum; a worker that lived longer is restarted at once.
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    def backoff(self, quick_deaths: int) -> float:
        if quick_deaths == 0:
            return 0.0
        doubled = self.first_backoff_seconds * 2 ** (quick_deaths - 1)
        return float(min(doubled, self.max_backoff_seconds))


SERVE_STOPPED = 0
SERVE_GAVE_UP = 1


@dataclass
class _Slot:
    name: str
    worker: Worker | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None


class WorkerPool:
    """Runs `count` workers made by `new_worker(name)` until stopped or given up."""

    def __init__(
        self,
        new_worker: Callable[[str], Worker],
        count: int,
        *,
        policy: RestartPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[Sequence[int], float | None], object] = wait_for_sentinels,
    ):
        self._new_worker = new_worker
        self._slots = [_Slot(f"serve-{number}") for number in range(1, count + 1)]
        self._policy = policy or RestartPolicy()
        self._monotonic = monotonic
        self._wait = wait
        self._stopping = False

    def run(self) -> int:
        """SERVE_STOPPED after `stop()` (once every worker has ended), SERVE_GAVE_UP after a
        crash loop (the other workers stopped)."""
        for slot in self._slots:
            self._start(slot)
        while not self._stopping:
            running = [slot.worker.sentinel for slot in self._slots if slot.worker is not None]
            self._wait(running, self._until_next_restart())
            now = self._monotonic()
            for slot in self._slots:
                if self._stopping:
                    break
                died = slot.worker is not None and slot.worker.exitcode is not None
                if died and not self._ended(slot, now):
                    self.stop()
                    self.join()
                    return SERVE_GAVE_UP
                if slot.restart_at is not None and slot.restart_at <= now:
                    self._start(slot)
        self.join()
        return SERVE_STOPPED

    def stop(self) -> None:
        """Stop every worker (SIGTERM: each finishes the requests in flight); safe in a signal
        handler."""
        self._stopping = True
        for slot in self._slots:
            if slot.worker is not None and slot.worker.exitcode is None:
                slot.worker.terminate()

    def join(self) -> None:
        for slot in self._slots:
            if slot.worker is not None:
                slot.worker.join()

    def _start(self, slot: _Slot) -> None:
        slot.worker = self._new_worker(slot.name)
        slot.worker.start()
        slot.started_at = self._monotonic()
        slot.restart_at = None

    def _ended(self, slot: _Slot, now: float) -> bool:
        """Schedule the restart of the worker in `slot`, which died; False to give up."""
        assert slot.worker is not None
        worker, lived = slot.worker, now - slot.started_at
        slot.worker = None
        slot.quick_deaths = slot.quick_deaths + 1 if lived < self._policy.quick_death_seconds else 0
        if slot.quick_deaths >= self._policy.max_quick_deaths:
            logger.critical(
                "worker %s (pid %s) died %d times in a row within %.0f s of starting (exit code "
                "%s): stopping every worker and exiting 1, for the process manager to take over",
                slot.name,
                worker.pid,
                slot.quick_deaths,
                self._policy.quick_death_seconds,
                worker.exitcode,
            )
            return False
        delay = self._policy.backoff(slot.quick_deaths)
        logger.error(
            "worker %s (pid %s) exited with code %s after %.1f s; starting it again in %.0f s",
            slot.name,
            worker.pid,
            worker.exitcode,
            lived,
            delay,
        )
        slot.restart_at = now + delay
        return True

    def _until_next_restart(self) -> float | None:
        pending = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
        return max(0.0, min(pending) - self._monotonic()) if pending else None
