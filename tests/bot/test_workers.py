"""The pool behind `serve --workers N`: a worker that dies is started again, at once after a long
life and after a doubling back-off after a quick death; a crash loop stops the pool with exit
code 1. Workers, time and waiting are fakes here (tests/faults/test_worker_restart.py kills real
ones)."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.workers import SERVE_GAVE_UP, SERVE_STOPPED, RestartPolicy, WorkerPool

FOREVER = None
POLICY = RestartPolicy(
    quick_death_seconds=60, max_quick_deaths=4, first_backoff_seconds=1, max_backoff_seconds=30
)


@dataclass
class FakeWorker:
    name: str
    lifetime: float | None
    started_at: float = 0.0
    exitcode: int | None = None
    sentinel: int = 0
    pid: int | None = None

    def start(self) -> None:
        self.pid = self.sentinel

    def terminate(self) -> None:
        self.exitcode = -signal.SIGTERM

    def join(self, timeout: float | None = None) -> None:
        assert self.exitcode is not None, f"{self.name} was joined while running"


@dataclass
class Machine:
    """Forks fake workers that live as long as `lifetimes(name, nth start of that name)` says;
    waiting moves time on to the next death or the pool's timeout. When nothing is left to
    happen, a SIGTERM arrives (the pool is stopped)."""

    lifetimes: Callable[[str, int], float | None]
    now: float = 0.0
    workers: list[FakeWorker] = field(default_factory=list)
    pool: WorkerPool | None = None

    def fork(self, name: str) -> FakeWorker:
        nth = sum(worker.name == name for worker in self.workers)
        worker = FakeWorker(name, self.lifetimes(name, nth), sentinel=len(self.workers) + 100)
        worker.started_at = self.now
        self.workers.append(worker)
        return worker

    def wait(self, sentinels: Sequence[int], timeout: float | None) -> list[int]:
        running = [w for w in self.workers if w.sentinel in sentinels and w.exitcode is None]
        deaths = [w for w in running if w.lifetime is not None]
        next_death = min(deaths, key=lambda w: w.started_at + (w.lifetime or 0), default=None)
        death_at = next_death.started_at + (next_death.lifetime or 0) if next_death else None
        if timeout is not None and (death_at is None or self.now + timeout < death_at):
            self.now += timeout
            return []
        if next_death is None or death_at is None:
            assert self.pool is not None
            self.pool.stop()
            return list(sentinels)
        self.now = death_at
        next_death.exitcode = 1
        return [next_death.sentinel]

    def starts(self, name: str) -> list[float]:
        return [worker.started_at for worker in self.workers if worker.name == name]

    def run(self, count: int) -> int:
        self.pool = WorkerPool(
            self.fork, count, policy=POLICY, monotonic=lambda: self.now, wait=self.wait
        )
        return self.pool.run()


def test_a_worker_that_dies_after_a_long_life_is_started_again_at_once() -> None:
    machine = Machine(lambda name, nth: 600.0 if (name, nth) == ("serve-1", 0) else FOREVER)

    assert machine.run(2) == SERVE_STOPPED
    assert machine.starts("serve-1") == [0.0, 600.0]
    assert machine.starts("serve-2") == [0.0]
    assert all(worker.exitcode is not None for worker in machine.workers)


def test_quick_deaths_in_a_row_wait_longer_each_time_then_the_pool_gives_up() -> None:
    machine = Machine(lambda name, nth: 0.5 if name == "serve-1" else FOREVER)

    assert machine.run(2) == SERVE_GAVE_UP
    # Died at 0.5, 2.0, 4.5: back-offs of 1, 2 and 4 s; the fourth quick death (9.0) ends it.
    assert machine.starts("serve-1") == [0.0, 1.5, 4.0, 8.5]
    (other,) = [worker for worker in machine.workers if worker.name == "serve-2"]
    assert other.exitcode == -signal.SIGTERM, "the healthy worker is stopped too"


def test_a_long_life_between_quick_deaths_starts_the_count_again() -> None:
    lives = {0: 0.5, 1: 0.5, 2: 120.0, 3: 0.5, 4: 0.5, 5: 0.5, 6: 0.5}
    machine = Machine(lambda name, nth: lives.get(nth, FOREVER))

    assert machine.run(1) == SERVE_GAVE_UP
    starts = machine.starts("serve-1")
    assert [round(later - earlier, 1) for earlier, later in itertools.pairwise(starts)] == [
        1.5,  # 0.5 alive, 1 s back-off
        2.5,  # 0.5 alive, 2 s back-off
        120.0,  # a long life: started again at once
        1.5,  # the count starts again: 1 s
        2.5,  # 2 s
        4.5,  # 4 s; this one's death is the fourth quick one in a row: the pool gives up
    ]


def test_the_back_off_doubles_up_to_its_maximum() -> None:
    assert [POLICY.backoff(deaths) for deaths in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
