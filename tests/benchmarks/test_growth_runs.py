"""The growth benchmark still measures every curve for small logins (its figures are for
`make bench`; no timing is checked here)."""

from __future__ import annotations

from benchmarks import growth


def test_the_growth_benchmark_draws_each_curve_from_its_baseline():
    result = growth.run((3, 30), latency=0.0, runs=1)

    assert [len(curve.points) for curve in result.curves] == [2, 2, 2, 2]
    soap, rest, _, _ = result.curves
    assert [point.outcome for point in soap.points] == ["3 read", "30 read"]
    assert all("round trips" in point.outcome for point in rest.points)
    lines = result.lines()
    assert sum("baseline: 3 companies" in line for line in lines) == 4
    assert sum(line.startswith("  limit: ") for line in lines) == 4
