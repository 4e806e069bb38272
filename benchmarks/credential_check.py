"""The full Nmbrs credential check against the sandbox with 200 ms per call.

Environment_Get, List_GetAll, the 22 permission probes and the GUIDs of three chosen companies,
once with the provider as the bot uses it (concurrent, rate-limited) and once one call after
another (the same provider with a single worker), in the same run. Target: the concurrent check in
about 3.5 round trips of wall time.

    .venv/bin/python -m benchmarks.credential_check
"""

from __future__ import annotations

import statistics
import time

from payroll.nmbrs_soap.client import SoapNmbrsClient
from payroll.nmbrs_soap.model import Credentials
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    MANY_COMPANIES_USERNAME,
    SandboxHandle,
    run_sandbox,
)

LATENCY = 0.2
RUNS = 3
CHOSEN = {48201, 48203, 48205}


def timed_check(
    sandbox: SandboxHandle,
    provider: SoapNmbrsClient,
    credentials: Credentials,
    chosen: set[int] | None,
) -> tuple[float, int]:
    """Median wall time of RUNS full checks, and the calls one check makes."""
    times = []
    for _ in range(RUNS):
        sandbox.clear_calls()
        start = time.perf_counter()
        provider.check_account(credentials, with_guids_for=chosen)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(sandbox.calls)


def main() -> None:
    with run_sandbox() as sandbox:
        concurrent = SoapNmbrsClient(sandbox.base_url)
        sequential = SoapNmbrsClient(sandbox.base_url, max_concurrent_calls=1)
        demo = Credentials(DEMO_USERNAME, DEMO_TOKEN)
        many = Credentials(MANY_COMPANIES_USERNAME, sandbox.accounts[MANY_COMPANIES_USERNAME].token)
        for provider in (concurrent, sequential):  # build clients, open connections
            provider.check_account(demo, with_guids_for=CHOSEN)
        sandbox.latency = LATENCY

        one_by_one, calls = timed_check(sandbox, sequential, demo, CHOSEN)
        together, _ = timed_check(sandbox, concurrent, demo, CHOSEN)
        large, large_calls = timed_check(sandbox, concurrent, many, {700001, 702500, 705000})
        concurrent.close()
        sequential.close()

    print(f"Full credential check, {LATENCY * 1000:.0f} ms per call, median of {RUNS} runs")
    print(f"  calls per check:            {calls}")
    print(f"  one after another:          {one_by_one:6.2f} s  = {one_by_one / LATENCY:5.1f} RT")
    print(f"  concurrent (rate-limited):  {together:6.2f} s  = {together / LATENCY:5.1f} RT")
    print(f"  speed-up:                   {one_by_one / together:6.1f} x")
    print(
        f"  5,000-company login, concurrent: {large:.2f} s = {large / LATENCY:.1f} RT "
        f"({large_calls} calls)"
    )
    print("  target: concurrent check within about 3.5 RT")


if __name__ == "__main__":
    main()
