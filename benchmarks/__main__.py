"""`make bench`: every benchmark, one after another, then a summary with the machine.

    .venv/bin/python -m benchmarks [--database-url postgresql+psycopg://...]

The served benchmarks need the PostgreSQL server on loopback (they create and drop their own
databases, `onboarding_bench` and `onboarding_bench_verify`; the ack matrix's SQLite runs use a
file in a temporary directory). The load runs twice, `serve --workers 1` and `--workers 2`. The
ack benchmark runs its whole matrix (10 and 50 in flight x SQLite and PostgreSQL x Nmbrs REST
and SOAP, eight runs) with BENCH_ACK_REQUESTS requests per kind and app in each configuration,
fewer than its own default (1000, `python -m benchmarks.acks`), so that the whole stays near
25 minutes; ACK_REQUESTS sets another number. The soak runs for SOAK_SECONDS, here 120 unless
set (600 alone: `python -m benchmarks.soak`); 0 leaves it out. Takes 20 to 25 minutes on 2
cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

from benchmarks import (
    acks,
    credential_check,
    growth,
    load,
    outbox_poll,
    rest_connect_check,
    soak,
    verify,
)
from benchmarks.harness import DEFAULT_DATABASE_URL, load_average, machine_summary, percentile
from benchmarks.memory import MIB

# The soak within `make bench`, unless SOAK_SECONDS says otherwise.
BENCH_SOAK_SECONDS = 120.0
# Requests per kind and app in each of the ack matrix's configurations, unless ACK_REQUESTS
# says otherwise.
BENCH_ACK_REQUESTS = 200
# The load's runs: `serve --workers` of each.
LOAD_WORKERS = (1, 2)


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark and summarise.")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    arguments = parser.parse_args()
    started = time.perf_counter()
    machine = machine_summary()
    print(f"Machine: {machine}; {load_average()}")

    section("Nmbrs credential check (benchmarks.credential_check)")
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        credential_check.main()
    credential_lines = captured.getvalue().rstrip().splitlines()
    print("\n".join(credential_lines), flush=True)

    section("Nmbrs REST connect check (benchmarks.rest_connect_check)")
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        rest_connect_check.main()
    rest_lines = captured.getvalue().rstrip().splitlines()
    print("\n".join(rest_lines), flush=True)

    section("How cost grows with a login's companies (benchmarks.growth)")
    growth_result = growth.run()
    print("\n".join(growth_result.lines()), flush=True)

    section("Daily link verification (benchmarks.verify)")
    verify_result = verify.run(database_url=arguments.database_url)
    print("\n".join(verify_result.lines()), flush=True)

    section("Outbox poll (benchmarks.outbox_poll)")
    outbox_lines = outbox_poll.run(arguments.database_url)
    print("\n".join(outbox_lines), flush=True)

    load_results = []
    for workers in LOAD_WORKERS:
        section(f"Load, serve --workers {workers} (benchmarks.load)")
        load_results.append(load.run(database_url=arguments.database_url, workers=workers))
        print("\n".join(load_results[-1].lines()), flush=True)
        print(f"  ({load_average()})", flush=True)

    ack_requests = int(os.environ.get("ACK_REQUESTS", BENCH_ACK_REQUESTS))
    configs = acks.configurations()
    section(
        f"Ack latency and type-ahead, {len(configs)} configurations of {ack_requests} requests "
        "(benchmarks.acks)"
    )
    matrix = acks.run_matrix(
        configs,
        ack_requests,
        arguments.database_url,
        report=lambda text: print(f"{text}\n", flush=True),
    )
    print("\n".join(matrix.table()), flush=True)

    soak_seconds = float(os.environ.get("SOAK_SECONDS", BENCH_SOAK_SECONDS))
    soak_result = None
    if soak_seconds > 0:
        section(f"Memory over a soak of {soak_seconds:.0f} s (benchmarks.soak)")
        soak_result = soak.run(soak_seconds, database_url=arguments.database_url)
        print("\n".join(soak_result.lines()), flush=True)

    section("Summary")
    print(f"Machine: {machine}; at the end {load_average()}")
    for line in credential_lines:
        if "one after another" in line or "concurrent (rate-limited)" in line:
            print(f"credential check {line.strip()}")
    for line in rest_lines[1:-1]:
        print(f"REST connect check {line.strip()}")
    for load_result in load_results:
        problems = load_result.problems()
        print(
            f"load, serve --workers {load_result.workers}: "
            f"{len(load_result.completed_journeys)}/{load_result.onboardings} onboardings, "
            f"{load_result.throughput:.1f}/s; ack p99 "
            f"{percentile([d.seconds for d in load_result.all_deliveries], 0.99) * 1000:.0f} ms; "
            f"serve RSS {load_result.rss_after / 2**20:.0f} MiB; "
            f"{'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}"
        )
    print(f"ack matrix, {ack_requests} requests per kind and app in each configuration:")
    for line in matrix.table():
        print(f"  {line}")
    if matrix.results:
        in_process = [percentile(r.typeahead.in_process, 0.99) for r in matrix.results]
        print(
            f"type-ahead p99 in-process: {min(in_process) * 1000:.1f} to "
            f"{max(in_process) * 1000:.1f} ms over the configurations "
            f"(target < {acks.TYPEAHEAD_TARGET * 1000:.0f} ms)"
        )
        bare_rss = max(r.rss_bare for r in matrix.results)
        largest = max(matrix.results, key=lambda r: r.rss_ours)
        print(
            f"serve RSS beside the bare app (target <= 2x): after the ack runs at most "
            f"{largest.rss_ours / MIB:.0f} MiB ({largest.title}) / {bare_rss / MIB:.0f} MiB = "
            f"{largest.rss_ours / max(bare_rss, 1):.2f}x; after the load benchmark "
            + "; ".join(
                f"--workers {r.workers} {r.rss_after / MIB:.0f} MiB = "
                f"{r.rss_after / max(bare_rss, 1):.2f}x"
                for r in load_results
            )
        )
    if soak_result is not None:
        print(
            f"soak {soak_result.seconds:.0f} s: serve RSS "
            f"{soak_result.ours.samples[0].memory.rss / MIB:.0f} -> "
            f"{soak_result.ours.samples[-1].memory.rss / MIB:.0f} MiB "
            f"({soak_result.ours.rss_slope:+.2f} MiB/min in the second half), bare "
            f"{soak_result.bare.samples[-1].memory.rss / MIB:.0f} MiB = {soak_result.ratio:.2f}x"
        )
    for curve in growth_result.curves:
        last, base = curve.points[-1], curve.points[0]
        print(
            f"{curve.title.split(',')[0].split(' (')[0]}: {last.size:,} companies "
            f"{last.seconds * 1000:.1f} ms ({last.seconds / max(base.seconds, 1e-9):.0f}x "
            f"{base.size:,}), peak {last.peak / MIB:.1f} MiB"
            + ("" if last.outcome == "ok" else f"; {last.outcome}")
        )
    for line in outbox_lines[1:]:
        print(f"outbox poll {line.strip()}")
    for measured in verify_result.runs:
        print(
            f"verification of {measured.links:,} links"
            f"{' under one login' if measured.shared else ''}: {measured.seconds:.1f} s, "
            f"{measured.calls_per_second:.0f} calls/s "
            f"(fair-use limit {verify.MAX_CALLS_PER_SECOND} per login)"
        )
    print(f"total bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
