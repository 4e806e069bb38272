"""The link verification benchmark still verifies every link it stores, each case on a fresh
database (its times are for `make bench`; none is checked here)."""

from __future__ import annotations

from benchmarks import verify
from tests.benchmarks.test_load_runs import bench_database_url  # noqa: F401 (a fixture)


def test_the_verification_benchmark_verifies_every_link_of_each_case(bench_database_url):  # noqa: F811
    result = verify.run((2, 3), (2,), latency=0.0, database_url=bench_database_url)

    assert [(run.links, run.shared, run.outcomes[verify.VERIFIED]) for run in result.runs] == [
        (2, False, 2),
        (3, False, 3),
        (2, True, 2),
    ]
    assert any("limit:" in line for line in result.lines())
