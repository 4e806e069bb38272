"""`make bench`: every benchmark, one after another, then a summary with the machine.

    .venv/bin/python -m benchmarks [--database-url postgresql+psycopg://...]

The served benchmarks need the PostgreSQL server on loopback (they create and drop their own
databases, `onboarding_bench` and `onboarding_bench_verify`). The soak runs for SOAK_SECONDS,
here 120 unless set (600 alone: `python -m benchmarks.soak`); 0 leaves it out. Takes 15 to 20
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

from benchmarks import acks, credential_check, growth, load, rest_connect_check, soak, verify
from benchmarks.harness import DEFAULT_DATABASE_URL, load_average, machine_summary, percentile
from benchmarks.memory import MIB

# The soak within `make bench`, unless SOAK_SECONDS says otherwise.
BENCH_SOAK_SECONDS = 120.0


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

    section("Load (benchmarks.load)")
    load_result = load.run(database_url=arguments.database_url)
    print("\n".join(load_result.lines()), flush=True)

    section("Ack latency and type-ahead (benchmarks.acks)")
    ack_result = acks.run(database_url=arguments.database_url)
    print("\n".join(ack_result.lines()), flush=True)

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
    print(
        f"load: {len(load_result.completed_journeys)}/{load_result.onboardings} onboardings, "
        f"{load_result.throughput:.1f}/s; ack p99 "
        f"{percentile([d.seconds for d in load_result.all_deliveries], 0.99) * 1000:.0f} ms; "
        f"serve RSS {load_result.rss_after / 2**20:.0f} MiB; "
        f"{'PASS' if not load_result.problems() else 'FAIL: ' + '; '.join(load_result.problems())}"
    )
    for kind in ack_result.kinds:
        print(f"ack p99 ratio {kind.ratio:4.2f} (target <= {acks.TARGET_RATIO}): {kind.name}")
    typeahead = ack_result.typeahead
    print(
        f"type-ahead p99: served {percentile(typeahead.served, 0.99) * 1000:.1f} ms, "
        f"in-process {percentile(typeahead.in_process, 0.99) * 1000:.1f} ms "
        f"(target < {acks.TYPEAHEAD_TARGET * 1000:.0f} ms)"
    )
    print(
        f"serve RSS beside the bare app (target <= 2x): after the ack benchmark "
        f"{ack_result.rss_ours / MIB:.0f} / {ack_result.rss_bare / MIB:.0f} MiB = "
        f"{ack_result.rss_ours / max(ack_result.rss_bare, 1):.2f}x; after the load benchmark "
        f"{load_result.rss_after / MIB:.0f} MiB = "
        f"{load_result.rss_after / max(ack_result.rss_bare, 1):.2f}x"
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
