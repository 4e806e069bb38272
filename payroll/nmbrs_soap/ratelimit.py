"""A sliding-window rate limiter: at most `max_calls` call starts in any `period` seconds."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_CALLS_PER_SECOND = 150  # Nmbrs' fair-use limit per account
MAX_CONCURRENT_CALLS = 24  # calls in flight per process
# Limiters (one per account) kept before the idle ones are forgotten: each holds up to
# MAX_CALLS_PER_SECOND timestamps, and the daily verification meets every linked account.
LIMITERS_KEPT = 256


class SlidingWindowLimiter:
    """Thread-safe. Bursts up to `max_calls` go at once; beyond that a caller waits until the
    oldest call of the window is `period` seconds old."""

    def __init__(
        self,
        max_calls: int,
        period: float = 1.0,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def idle(self) -> bool:
        """No call started within the last period: forgetting this limiter changes nothing."""
        with self._lock:
            return not self._starts or self._starts[-1] <= self._clock() - self.period

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.period:
                    self._starts.popleft()
                if len(self._starts) < self.max_calls:
                    self._starts.append(now)
                    return
                wait = self._starts[0] + self.period - now
            self._sleep(wait)
