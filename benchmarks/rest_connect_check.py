"""The Nmbrs REST connect check after the callback (token exchange, debtors, companies) against
the fake Nmbrs with 200 ms per call, in round trips, beside the SOAP credential check's 3.3.
Targets: at most 3 round trips for one debtor, at most 4 for five debtors of 1,000 companies.

Two figures per case: the round trips (the longest chain of calls each sent after the one
before was answered, as the fake recorded them) and the wall time in latencies, which adds the
CPU time of building and reading the pages. The fake runs in a process of its own (as Nmbrs is
elsewhere), so its CPU is not the provider's: in one process the GIL held back calls of one
round long enough for the fake to count an extra round trip on a busy machine.

    .venv/bin/python -m benchmarks.rest_connect_check
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import fake_in_a_process
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    MANY_COMPANIES_LOGIN,
    SandboxHandle,
    SandboxLogin,
    debtor,
    demo_logins,
    many_companies,
    run_rest_sandbox,
)

LATENCY = 0.2
RUNS = 3
CALLBACK = "http://127.0.0.1:9/nmbrs/callback"
FIVE_DEBTORS_LOGIN = "vijf@voorbeeld.nl"
SOAP_ROUND_TRIPS = 3.3
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Case:
    title: str
    login: str
    target: float | None


CASES = (
    Case("one debtor, 5 companies", FINE_LOGIN, 3),
    Case("five debtors of 1,000 companies", FIVE_DEBTORS_LOGIN, 4),
    Case("one debtor, 5,000 companies", MANY_COMPANIES_LOGIN, None),
)


@dataclass(frozen=True)
class Measured:
    case: Case
    seconds: float
    calls: int
    round_trips: int
    companies: int
    latency: float

    @property
    def latencies(self) -> float:
        return self.seconds / self.latency

    def line(self) -> str:
        target = f"target <= {self.case.target:.0f}" if self.case.target else "no target"
        verdict = "" if self.case.target is None else (
            " PASS" if self.round_trips <= self.case.target else " FAIL"
        )  # fmt: skip
        return (
            f"  {self.case.title:34} {self.round_trips} RT; wall {self.seconds:5.2f} s = "
            f"{self.latencies:4.1f} latencies ({self.calls} calls, {self.companies} companies; "
            f"{target}){verdict}"
        )


def five_debtors() -> SandboxLogin:
    return SandboxLogin(
        FIVE_DEBTORS_LOGIN,
        "Vijf Debiteuren",
        "klant logins under five debtors of 1,000 companies each",
        [
            debtor(f"30{n}", f"Debiteur {n}", many_companies(1000, first_number=n * 1000 - 999))
            for n in range(1, 6)
        ],
    )


def _serve(connection: Any) -> None:
    """The fake in the child process: its base URL, then commands from the benchmark."""
    with run_rest_sandbox([*demo_logins(), five_debtors()], redirect_uris=[CALLBACK]) as nmbrs:
        connection.send(nmbrs.base_url)
        answer_commands(nmbrs, connection)


def answer_commands(nmbrs: Any, connection: Any) -> None:
    """Carry out the benchmark's commands on the running fake until it says stop."""
    while True:
        try:
            command, argument = connection.recv()
        except EOFError:
            return
        if command == "stop":
            return
        if command == "latency":
            nmbrs.latency = argument
            connection.send(None)
        elif command == "clear":
            nmbrs.clear_calls()
            connection.send(None)
        elif command == "measured":
            connection.send((len(nmbrs.calls), nmbrs.round_trips()))


class FakeNmbrs:
    """The fake Nmbrs in its own process, driven through a pipe; the person's consent goes
    over HTTP, as a browser's would."""

    def __init__(self, base_url: str, connection: Any):
        self.base_url = base_url
        self._connection = connection

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._connection.send((command, argument))
        return self._connection.recv()

    def set_latency(self, seconds: float) -> None:
        self._ask("latency", seconds)

    def clear_calls(self) -> None:
        self._ask("clear")

    def measured(self) -> tuple[int, int]:
        """The calls since the last clear, and the round trips they took."""
        calls, round_trips = self._ask("measured")
        return calls, round_trips

    def consent(self, authorization_url: str, login: str) -> dict[str, str]:
        return SandboxHandle.consent(self, authorization_url, login)  # type: ignore[arg-type]


@contextmanager
def fake_nmbrs_process() -> Iterator[FakeNmbrs]:
    with fake_in_a_process(
        "the fake Nmbrs", _serve, stop=("stop", None), timeout=START_TIMEOUT_SECONDS
    ) as (url, connection):
        yield FakeNmbrs(url, connection)


def timed_connect(
    nmbrs: FakeNmbrs, provider: RestNmbrsProvider, case: Case, runs: int, latency: float
) -> Measured:
    times, calls, rounds, companies = [], 0, 0, 0
    for _ in range(runs):
        request = provider.authorization_start(redirect_uri=CALLBACK, state="bench")
        nmbrs.set_latency(0.0)  # the person's clicks are not measured
        code = nmbrs.consent(request.url, case.login)["code"]
        nmbrs.set_latency(latency)
        nmbrs.clear_calls()
        start = time.perf_counter()
        consent = provider.connect(code, redirect_uri=CALLBACK, code_verifier=request.code_verifier)
        times.append(time.perf_counter() - start)
        calls, round_trips = nmbrs.measured()
        companies = len(consent.check.companies)
        rounds = max(rounds, round_trips)
    return Measured(case, statistics.median(times), calls, rounds, companies, latency)


def run(*, latency: float = LATENCY, runs: int = RUNS) -> list[Measured]:
    with fake_nmbrs_process() as nmbrs:
        provider = RestNmbrsProvider(
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            subscription_key=DEMO_SUBSCRIPTION_KEY,
            rest_url=nmbrs.base_url,
            identity_url=nmbrs.base_url,
        )
        try:
            for case in CASES:  # open the connections, start the pool's threads
                timed_connect(nmbrs, provider, case, 1, 0.0)
            return [timed_connect(nmbrs, provider, case, runs, latency) for case in CASES]
        finally:
            provider.close()


def main() -> None:
    results = run()
    print(
        f"REST connect check, {LATENCY * 1000:.0f} ms per call, fake Nmbrs in its own process; "
        f"wall: median of {RUNS} runs, round trips: the most of them"
    )
    for result in results:
        print(result.line())
    print(f"  SOAP credential check for comparison: {SOAP_ROUND_TRIPS} RT")


if __name__ == "__main__":
    main()
