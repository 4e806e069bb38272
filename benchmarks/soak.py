"""Memory over a soak: steady mixed traffic against `onboard-bot serve` for SOAK_SECONDS
(default 600), beside the bare bolt app (benchmarks.bare_bolt) under the same traffic, the
memory of each sampled every SAMPLE_SECONDS (RSS and PSS summed over the process tree, so
forked workers or worker processes count). Prints start, middle and end, and the slope of
each over the second half (after the caches have filled). Target: flat.

The traffic is benchmarks.acks' five kinds of request (`/onboard`, Start, the credentials and
terms submissions, the type-ahead over 5,000 companies) in turn, RATE a second to each app,
the credentials submissions each a Nmbrs check against the sandbox (50 ms per call).

    SOAK_SECONDS=600 .venv/bin/python -m benchmarks.soak [--rate 10] [--people 10]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import cycle

from benchmarks import acks
from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    bot_environment,
    fresh_database,
    load_average,
    machine_summary,
    onboard_bot_serve,
    percentile,
    sandbox_process,
)
from benchmarks.load import load_workspace
from benchmarks.memory import MIB, Memory
from devslack import DevSlack, run_devslack
from devslack.driver import BotEndpoint, DeliveryFailed

SOAK_SECONDS = 600.0
SAMPLE_SECONDS = 5.0
RATE = 10.0  # requests a second to each app
PEOPLE = 10  # per kind of request: who sends them
SENDERS = 8  # requests in flight at most, per app
# Flat: the second half's slope below this (MiB a minute).
FLAT_MIB_PER_MINUTE = 0.5


def soak_seconds() -> float:
    """SOAK_SECONDS from the environment, else the default (600)."""
    return float(os.environ.get("SOAK_SECONDS", SOAK_SECONDS))


@dataclass(frozen=True)
class Sample:
    seconds: float
    memory: Memory


def slope(samples: list[Sample], value: Callable[[Memory], int]) -> float:
    """Least-squares slope in MiB a minute."""
    if len(samples) < 2:
        return 0.0
    xs = [sample.seconds / 60 for sample in samples]
    ys = [value(sample.memory) / MIB for sample in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


@dataclass
class Series:
    name: str
    samples: list[Sample]
    acks: list[float]
    failed: int
    skipped: int

    def at(self, fraction: float) -> Memory:
        return self.samples[min(len(self.samples) - 1, int(len(self.samples) * fraction))].memory

    def second_half(self) -> list[Sample]:
        return self.samples[len(self.samples) // 2 :]

    @property
    def rss_slope(self) -> float:
        return slope(self.second_half(), lambda memory: memory.rss)

    @property
    def pss_slope(self) -> float:
        return slope(self.second_half(), lambda memory: memory.pss)

    def line(self) -> str:
        start, middle, end = self.at(0.0), self.at(0.5), self.samples[-1].memory
        return (
            f"  {self.name:<6} RSS start {start.rss / MIB:5.0f}, middle {middle.rss / MIB:5.0f}, "
            f"end {end.rss / MIB:5.0f} MiB (PSS end {end.pss / MIB:.0f} MiB, {end.processes} "
            f"process(es), {end.threads} threads); second half {self.rss_slope:+.2f} MiB/min "
            f"RSS, {self.pss_slope:+.2f} PSS; ack p50 {percentile(self.acks, 0.5) * 1000:.0f} "
            f"ms, p99 {percentile(self.acks, 0.99) * 1000:.0f} ms, "
            f"{len(self.acks)} requests, {self.failed} not acked, {self.skipped} not sent "
            f"(the app behind)"
        )


@dataclass
class SoakResult:
    seconds: float
    rate: float
    ours: Series
    bare: Series

    @property
    def flat(self) -> bool:
        return self.ours.rss_slope < FLAT_MIB_PER_MINUTE

    @property
    def ratio(self) -> float:
        return self.ours.samples[-1].memory.rss / max(self.bare.samples[-1].memory.rss, 1)

    def lines(self) -> list[str]:
        return [
            f"Soak: {self.seconds:.0f} s of mixed traffic, {self.rate:.0f} requests/s to each "
            f"app, memory every {SAMPLE_SECONDS:.0f} s (the process tree)",
            self.ours.line(),
            self.bare.line(),
            f"  ours / bare at the end: {self.ratio:.2f} (target <= 2: "
            f"{'met' if self.ratio <= 2 else 'missed'}); second half "
            f"{'flat' if self.flat else 'growing'} (target < {FLAT_MIB_PER_MINUTE} MiB/min: "
            f"{'met' if self.flat else 'missed'})",
        ]


class Traffic:
    """RATE requests a second to one app, the kinds in turn, at most SENDERS in flight."""

    def __init__(self, slack: DevSlack, url: str, kinds: list[acks.Kind], *, apply: bool):
        self._slack = slack
        self._apply = apply
        # One request of each kind in turn, each kind's people in turn.
        rounds = zip(*(kind.requests for kind in kinds), strict=False)
        self._requests = cycle(
            [pair for group in rounds for pair in zip(kinds, group, strict=True)]
        )
        self._endpoints = [
            BotEndpoint(url, slack.signing_secret, acks.DRIVER_ACK_TIMEOUT) for _ in range(SENDERS)
        ]
        self._free = list(self._endpoints)
        self._lock = threading.Lock()
        self.acks: list[float] = []
        self.failed = 0
        self.skipped = 0  # not sent: SENDERS were still waiting for their acks

    def send_next(self, pool: ThreadPoolExecutor) -> None:
        with self._lock:
            if not self._free:
                self.skipped += 1  # the app is behind
                return
            endpoint = self._free.pop()
            kind, request = next(self._requests)
        pool.submit(self._send, endpoint, kind, request)

    def _send(self, endpoint: BotEndpoint, kind: acks.Kind, request: acks.Request) -> None:
        try:
            delivery = endpoint.send(request.kind, request.fresh(self._slack), request.content_type)
            with self._lock:
                self.acks.append(delivery.seconds)
            if self._apply and kind.after_ack:
                kind.after_ack(request, delivery)
        except DeliveryFailed:
            with self._lock:
                self.failed += 1
        finally:
            endpoint.deliveries.clear()
            with self._lock:
                self._free.append(endpoint)

    def close(self) -> None:
        for endpoint in self._endpoints:
            endpoint.close()


def drive(
    slack: DevSlack,
    apps: dict[str, tuple[str, Callable[[], Memory]]],
    kinds: list[acks.Kind],
    *,
    seconds: float,
    rate: float,
) -> dict[str, Series]:
    traffic = {
        name: Traffic(slack, url, kinds, apply=name == "ours") for name, (url, _) in apps.items()
    }
    samples: dict[str, list[Sample]] = {name: [] for name in apps}
    started = time.monotonic()
    next_sample = started
    with ThreadPoolExecutor(max_workers=SENDERS * len(apps)) as pool:
        sent = 0
        while (now := time.monotonic()) - started < seconds:
            if now >= next_sample:
                for name, (_, memory) in apps.items():
                    samples[name].append(Sample(now - started, memory()))
                next_sample += SAMPLE_SECONDS
            for each in traffic.values():
                each.send_next(pool)
            sent += 1
            time.sleep(max(0.0, started + sent / rate - time.monotonic()))
    time.sleep(SAMPLE_SECONDS)  # what the last requests left behind settles
    for name, (_, memory) in apps.items():
        samples[name].append(Sample(time.monotonic() - started, memory()))
    for each in traffic.values():
        each.close()
    return {
        name: Series(
            name, samples[name], traffic[name].acks, traffic[name].failed, traffic[name].skipped
        )
        for name in apps
    }


def run(
    seconds: float | None = None,
    *,
    rate: float = RATE,
    people: int = PEOPLE,
    database_url: str = DEFAULT_DATABASE_URL,
) -> SoakResult:
    seconds = soak_seconds() if seconds is None else seconds
    database_url = fresh_database(database_url)
    with (
        sandbox_process(partial(acks.ack_accounts, people), latency=acks.LATENCY) as nmbrs_url,
        run_devslack(
            load_workspace(acks.GROUPS * people), ack_timeout=acks.DRIVER_ACK_TIMEOUT
        ) as slack,
    ):
        environment = bot_environment(slack, database_url=database_url, nmbrs_base_url=nmbrs_url)
        with onboard_bot_serve(environment) as ours, acks.bare_bolt(slack) as bare:
            slack.connect(ours.events_url)
            kinds = acks.prepare(slack, people)
            acks.wait_until_idle(ours.process.pid)
            series = drive(
                slack,
                {"ours": (ours.events_url, ours.memory), "bare": (bare.events_url, bare.memory)},
                kinds,
                seconds=seconds,
                rate=rate,
            )
    return SoakResult(seconds, rate, series["ours"], series["bare"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="default SOAK_SECONDS")
    parser.add_argument("--rate", type=float, default=RATE, help="requests/s to each app")
    parser.add_argument("--people", type=int, default=PEOPLE, help="per kind of request")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    arguments = parser.parse_args()
    if not 0.1 <= arguments.rate <= 200 or not 1 <= arguments.people <= 100:
        parser.error("--rate must be 0.1..200 and --people 1..100")
    print(f"Machine: {machine_summary()}; {load_average()}")
    result = run(
        arguments.seconds,
        rate=arguments.rate,
        people=arguments.people,
        database_url=arguments.database_url,
    )
    print("\n".join(result.lines()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
