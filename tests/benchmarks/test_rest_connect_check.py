"""The REST connect-check benchmark still runs every case against the fake (a quick run; its
round trips and times are for `make bench`, and no timing is checked here)."""

from __future__ import annotations

from benchmarks import rest_connect_check


def test_the_connect_check_benchmark_reads_every_company_of_every_case_in_few_calls():
    results = rest_connect_check.run(latency=0.01, runs=1)

    assert [(r.case.login, r.companies, r.calls) for r in results] == [
        (rest_connect_check.FINE_LOGIN, 5, 3),  # token; debtors and companies
        (rest_connect_check.FIVE_DEBTORS_LOGIN, 5000, 1 + 2 + 5 + 45),  # 40306: per debtor
        (rest_connect_check.MANY_COMPANIES_LOGIN, 5000, 1 + 2 + 49),
    ]
    assert all("RT" in result.line() for result in results)
