"""The sliding-window limiter that keeps calls within Nmbrs' fair-use limit."""

from __future__ import annotations

import pytest

from payroll.nmbrs_soap.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_up_to_the_limit_goes_at_once():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(150, clock=clock, sleep=clock.sleep)

    for _ in range(150):
        limiter.acquire()

    assert clock.slept == []


def test_the_call_beyond_the_limit_waits_until_the_oldest_is_a_period_old():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
        clock.now += 0.1

    limiter.acquire()

    assert clock.slept == [pytest.approx(0.7)]
    assert clock.now == pytest.approx(101.0)


def test_no_window_of_a_period_ever_holds_more_than_the_limit():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, clock=clock, sleep=clock.sleep)
    starts = []
    for step in range(40):
        limiter.acquire()
        starts.append(clock.now)
        clock.now += 0.03 * (step % 4)

    assert max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts) <= 5


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowLimiter(0)


def test_a_limiter_is_idle_once_its_last_call_is_a_period_old():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, clock=clock, sleep=clock.sleep)
    assert limiter.idle()
    limiter.acquire()
    clock.now += 0.9
    assert not limiter.idle()
    clock.now += 0.1
    assert limiter.idle()
