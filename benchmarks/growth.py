"""How the cost of a login grows with its companies: the SOAP credential check, the REST
connect check and the type-ahead for logins of 10, 1,000, 5,000 and 50,000 companies, each
beside the 10-company login of the same run (its baseline), in time and memory per check.

The Nmbrs fakes run in processes of their own (LATENCY per call); the checks and the search run
here. Memory per check is the peak resident memory during one check above what the process held
before it (Linux's VmHWM, reset before each check), so it counts the C libraries' memory (lxml's
trees) as well as Python's.

    .venv/bin/python -m benchmarks.growth [--sizes 10,1000,5000,50000]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.harness import fake_in_a_process, load_average, machine_summary, sandbox_process
from benchmarks.rest_connect_check import (
    CALLBACK,
    Case,
    FakeNmbrs,
    answer_commands,
    timed_connect,
)
from bot.core.payroll import ProviderError
from bot.serving import release_free_memory
from bot.usecases.company_search import DEFAULT_CACHE_MIB, PackedCompanies
from payroll.nmbrs_rest import sandbox as rest_sandbox
from payroll.nmbrs_rest.http import MAX_ANSWER_BYTES as REST_MAX_ANSWER_BYTES
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_soap import sandbox as soap_sandbox
from payroll.nmbrs_soap.client import MAX_ANSWER_BYTES as SOAP_MAX_ANSWER_BYTES
from payroll.nmbrs_soap.client import SoapNmbrsClient
from payroll.nmbrs_soap.model import Credentials

SIZES = (10, 1_000, 5_000, 50_000)
LATENCY = 0.05
RUNS = 3
MANY = 5_000  # larger logins are checked once (the fakes take long to build their answers)
TOKEN = "0123456789abcdef0123456789abcdef"
TYPEAHEAD_TARGET = 0.020
# What a customer types (names are "Klant 0001 B.V." ...): few, many and no matches.
QUERIES = ("klant 004", "klant 12", "4999", "b.v.", "klant", "0815", "nothing like it")
TYPEAHEAD_ROUNDS = 20
START_TIMEOUT_SECONDS = 60
FAKE_READ_TIMEOUT = 120.0
MIB = 2**20


def soap_login(size: int) -> str:
    return f"groei{size}@voorbeeld.nl"


def rest_login(size: int) -> str:
    return f"groei{size}@voorbeeld.nl"


def soap_accounts(sizes: Sequence[int]) -> list[soap_sandbox.SandboxAccount]:
    return [
        soap_sandbox.SandboxAccount(
            soap_login(size), TOKEN, f"groei{size}", soap_sandbox.many_companies(size)
        )
        for size in sizes
    ]


def rest_logins(sizes: Sequence[int]) -> list[rest_sandbox.SandboxLogin]:
    return [
        rest_sandbox.SandboxLogin(
            rest_login(size),
            f"Groei {size}",
            f"klant login under one debtor of {size} companies",
            [rest_sandbox.debtor("40001", "Groei", rest_sandbox.many_companies(size))],
        )
        for size in sizes
    ]


# -- measuring ------------------------------------------------------------------------------


def _status_kib(name: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split(f"{name}:", 1)[1].split()[0])


def peak_above(function: Callable[[], Any]) -> tuple[Any, int]:
    """function()'s result and the most resident memory it took above what was held before
    (bytes): the peak is reset first (Linux's clear_refs), free memory handed back."""
    gc.collect()
    release_free_memory()
    before = _status_kib("VmRSS")
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    result = function()
    return result, max(0, _status_kib("VmHWM") - before) * 1024


@dataclass(frozen=True)
class Point:
    """One size on a curve: seconds (median) and bytes per check, and what became of it."""

    size: int
    seconds: float
    peak: int
    outcome: str = "ok"


@dataclass(frozen=True)
class Curve:
    title: str
    unit_seconds: float  # a point's seconds are also shown in these (a latency), when set
    points: list[Point]
    limit: str

    def lines(self) -> list[str]:
        base = self.points[0]
        lines = [f"{self.title} (baseline: {base.size:,} companies, same run)"]
        for point in self.points:
            latencies = (
                f" = {point.seconds / self.unit_seconds:5.1f} latencies"
                if self.unit_seconds
                else ""
            )
            lines.append(
                f"  {point.size:>7,} companies: {point.seconds * 1000:9.2f} ms{latencies} "
                f"({point.seconds / max(base.seconds, 1e-9):6.1f}x the baseline), peak "
                f"{point.peak / MIB:6.1f} MiB above what was held"
                + ("" if point.outcome == "ok" else f"; {point.outcome}")
            )
        lines.append(f"  limit: {self.limit}")
        return lines


def median_seconds(function: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- the SOAP credential check --------------------------------------------------------------


def soap_curve(sizes: Sequence[int], latency: float, runs: int) -> Curve:
    with sandbox_process(partial(soap_accounts, tuple(sizes)), latency=latency) as url:
        client = SoapNmbrsClient(url)
        try:
            client.check_account(Credentials(soap_login(sizes[0]), TOKEN))  # warm up
            points = []
            for size in sizes:
                credentials = Credentials(soap_login(size), TOKEN)
                check = partial(client.check_account, credentials, with_guids_for=set())
                try:
                    result, peak = peak_above(check)
                except ProviderError as error:
                    points.append(Point(size, 0.0, 0, f"fails: {type(error).__name__}"))
                    continue
                seconds = median_seconds(check, runs if size <= MANY else 1)
                points.append(Point(size, seconds, peak, f"{len(result.companies):,} read"))
        finally:
            client.close()
    return Curve(
        f"SOAP credential check (24 calls), {latency * 1000:.0f} ms per call",
        latency,
        points,
        f"the answer cap, {SOAP_MAX_ANSWER_BYTES / MIB:.0f} MiB: List_GetAll answers ~245 bytes "
        f"a company, so a login of more than ~{SOAP_MAX_ANSWER_BYTES // 245 // 1000},000 "
        "companies is refused as an unexpected answer",
    )


# -- the REST connect check -----------------------------------------------------------------


def _serve_rest(sizes: Sequence[int], connection: Any) -> None:
    """The fake Nmbrs REST in a child process, driven like benchmarks.rest_connect_check's."""
    with rest_sandbox.run_rest_sandbox(rest_logins(sizes), redirect_uris=[CALLBACK]) as nmbrs:
        connection.send(nmbrs.base_url)
        answer_commands(nmbrs, connection)


@contextmanager
def rest_fake(sizes: Sequence[int]) -> Iterator[FakeNmbrs]:
    with fake_in_a_process(
        "the fake Nmbrs REST",
        _serve_rest,
        tuple(sizes),
        stop=("stop", None),
        timeout=START_TIMEOUT_SECONDS,
    ) as (url, connection):
        yield FakeNmbrs(url, connection)


def rest_curve(sizes: Sequence[int], latency: float, runs: int) -> Curve:
    with rest_fake(sizes) as nmbrs:
        provider = RestNmbrsProvider(
            client_id=rest_sandbox.DEMO_CLIENT_ID,
            client_secret=rest_sandbox.DEMO_CLIENT_SECRET,
            subscription_key=rest_sandbox.DEMO_SUBSCRIPTION_KEY,
            rest_url=nmbrs.base_url,
            identity_url=nmbrs.base_url,
            # The fake builds each page from every company of the login: at 50,000 its pages
            # take seconds on a busy machine (its CPU, not the provider's).
            read_timeout=FAKE_READ_TIMEOUT,
        )
        try:
            cases = [Case(f"{size:,}", rest_login(size), None) for size in sizes]
            timed_connect(nmbrs, provider, cases[0], 1, 0.0)  # warm up
            points = []
            for size, case in zip(sizes, cases, strict=True):
                try:
                    _, peak = peak_above(partial(timed_connect, nmbrs, provider, case, 1, 0.0))
                    timed = timed_connect(
                        nmbrs, provider, case, runs if size <= MANY else 1, latency
                    )
                except ProviderError as error:
                    points.append(Point(size, 0.0, 0, f"fails: {type(error).__name__}"))
                    continue
                points.append(
                    Point(
                        size,
                        timed.seconds,
                        peak,
                        f"{timed.round_trips} round trips, {timed.calls} calls",
                    )
                )
        finally:
            provider.close()
    return Curve(
        f"REST connect check (token, debtors, companies), {latency * 1000:.0f} ms per call",
        latency,
        points,
        "the pages: 100 companies a page, at most 50 calls in flight, so every 5,000 companies "
        "add a round trip (50,000: 500 pages, ~11 round trips); Nmbrs publishes no rate limit "
        "(42908 is backed off, up to 8 s); a page stays far below the answer cap of "
        f"{REST_MAX_ANSWER_BYTES / MIB:.0f} MiB",
    )


# -- the type-ahead -------------------------------------------------------------------------


def triples(size: int) -> list[list[Any]]:
    """The [id, number, name] triples the onboarding keeps for a SOAP login of `size`."""
    return [[c.id, c.number, c.name] for c in soap_sandbox.many_companies(size)]


def typeahead_curves(sizes: Sequence[int]) -> tuple[Curve, Curve, list[str]]:
    """A keystroke (p99 over the queries) on a kept list, and the first keystroke of an
    onboarding (its kept JSON decoded and packed: a miss of the cache)."""
    keystrokes, misses, sizes_line = [], [], []
    for size in sizes:
        stored = json.dumps(triples(size))
        packed, peak = peak_above(lambda stored=stored: PackedCompanies(json.loads(stored)))
        miss = median_seconds(lambda stored=stored: PackedCompanies(json.loads(stored)), 3)
        seconds = []
        for _ in range(TYPEAHEAD_ROUNDS):
            for query in QUERIES:
                started = time.perf_counter()
                packed.search(query)
                seconds.append(time.perf_counter() - started)
        ordered = sorted(seconds)
        p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99) - 1]
        _, search_peak = peak_above(lambda packed=packed: packed.search("klant"))
        keystrokes.append(Point(size, p50, search_peak, f"p99 {p99 * 1000:.1f} ms"))
        misses.append(Point(size, miss, peak))
        lists = int(DEFAULT_CACHE_MIB * MIB // max(packed.size, 1))
        sizes_line.append(
            f"  {size:>7,} companies: kept JSON {len(stored) / MIB:5.2f} MiB, packed "
            f"{packed.size / MIB:5.2f} MiB; {lists:,} such lists fit in COMPANY_CACHE_MIB "
            f"({DEFAULT_CACHE_MIB})"
        )
    over = [point.size for point in keystrokes if point.seconds > TYPEAHEAD_TARGET]
    keystroke = Curve(
        "Type-ahead, a keystroke on a kept list (p50 over the queries)",
        0.0,
        keystrokes,
        f"the target of {TYPEAHEAD_TARGET * 1000:.0f} ms a keystroke: the search scans the "
        "list's names (in C, str.find), so its time grows with the list; "
        + (f"{over[0]:,} companies pass it" if over else "no size measured passes it"),
    )
    miss = Curve(
        "Type-ahead, first keystroke of an onboarding (kept JSON decoded and packed)",
        0.0,
        misses,
        "the onboarding row itself: every step of that onboarding reads and writes the kept "
        "list with it (1.8 MiB of JSON at 50,000)",
    )
    return keystroke, miss, sizes_line


@dataclass
class GrowthResult:
    curves: list[Curve]
    list_sizes: list[str]

    def lines(self) -> list[str]:
        lines = []
        for curve in self.curves:
            lines += curve.lines()
        return [*lines, "Kept company lists", *self.list_sizes]


def run(
    sizes: Sequence[int] = SIZES, *, latency: float = LATENCY, runs: int = RUNS
) -> GrowthResult:
    keystroke, miss, list_sizes = typeahead_curves(sizes)
    curves = [soap_curve(sizes, latency, runs), rest_curve(sizes, latency, runs), keystroke, miss]
    return GrowthResult(curves, list_sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds per Nmbrs call")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    if not sizes or not all(1 <= size <= 100_000 for size in sizes):
        parser.error("--sizes must be numbers of companies between 1 and 100,000")
    print(f"Machine: {machine_summary()}; {load_average()}")
    print("\n".join(run(sizes, latency=arguments.latency).lines()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
