"""`make bench`: every benchmark, one after another, then a summary with the machine.

    .venv/bin/python -m benchmarks [--database-url postgresql+psycopg://...]

The served benchmarks need the PostgreSQL server on loopback (they create and drop their own
database, `onboarding_bench`). Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

from benchmarks import acks, credential_check, load, rest_connect_check
from benchmarks.harness import DEFAULT_DATABASE_URL, load_average, machine_summary, percentile


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

    section("Load (benchmarks.load)")
    load_result = load.run(database_url=arguments.database_url)
    print("\n".join(load_result.lines()), flush=True)

    section("Ack latency and type-ahead (benchmarks.acks)")
    ack_result = acks.run(database_url=arguments.database_url)
    print("\n".join(ack_result.lines()), flush=True)

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
    print(f"total bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
