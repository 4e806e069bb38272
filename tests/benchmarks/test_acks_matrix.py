"""The ack benchmark's matrix: what its arguments name, who its people are, its summary table,
and a tiny served run under REST on SQLite (the consent through the browser stand-in). No timing
is checked here; the figures are for `make bench`."""

from __future__ import annotations

import pytest

from benchmarks import acks
from benchmarks.acks import POSTGRES, REST, SOAP, SQLITE, Config


def test_by_default_the_matrix_is_every_database_provider_and_in_flight() -> None:
    arguments, configs = acks.parse_arguments([])
    assert arguments.requests == acks.REQUESTS
    assert configs == [
        Config(SQLITE, REST, 10),
        Config(SQLITE, REST, 50),
        Config(SQLITE, SOAP, 10),
        Config(SQLITE, SOAP, 50),
        Config(POSTGRES, REST, 10),
        Config(POSTGRES, REST, 50),
        Config(POSTGRES, SOAP, 10),
        Config(POSTGRES, SOAP, 50),
    ]


def test_the_arguments_narrow_the_matrix_each_configuration_once() -> None:
    _, configs = acks.parse_arguments(
        ["--in-flight", "50", "10", "50", "--database", "postgres", "--provider", "soap"]
    )
    assert configs == [Config(POSTGRES, SOAP, 50), Config(POSTGRES, SOAP, 10)]
    _, configs = acks.parse_arguments(["--concurrency", "7", "--database", "sqlite"])
    assert configs == [Config(SQLITE, REST, 7), Config(SQLITE, SOAP, 7)]


@pytest.mark.parametrize(
    "argv",
    [
        ["--in-flight", "0"],
        ["--requests", "0"],
        ["--database", "mysql"],
        ["--provider", "graphql"],
        ["--requests", str(acks.MAX_REST_REQUESTS + 1)],
    ],
)
def test_what_the_benchmark_cannot_run_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        acks.parse_arguments(argv)


def test_many_requests_are_fine_under_soap_alone() -> None:
    _, configs = acks.parse_arguments(
        ["--requests", str(acks.MAX_REST_REQUESTS + 1), "--provider", "soap"]
    )
    assert {config.provider for config in configs} == {SOAP}


def test_under_rest_every_consent_return_is_a_customer_of_its_own() -> None:
    concurrency, rounds = 3, 4
    people = acks.people_count(REST, concurrency, rounds)
    consenters = acks.consent_customers(concurrency, rounds)
    assert len(consenters) == len(set(consenters)) == concurrency * rounds
    others = {
        n
        for index in (acks.MANAGERS, acks.CLICKERS, acks.TERMS, acks.SEARCHERS)
        for n in acks.group(index, concurrency)
    }
    assert not others & set(consenters)
    assert max(consenters) == people
    assert acks.people_count(SOAP, concurrency, rounds) == acks.GROUPS * concurrency
    logins = acks.rest_ack_logins(concurrency, people)
    assert len({login.email for login in logins}) == people
    searcher = logins[acks.group(acks.SEARCHERS, concurrency)[0] - 1]
    assert sum(len(d.companies) for d in searcher.debtors) == 5000


def kind(name: str, ours: float, bare: float) -> acks.KindResult:
    return acks.KindResult(name, acks.Measured([ours], 0), acks.Measured([bare], 0))


def test_the_table_has_a_row_per_configuration_and_says_met_or_missed() -> None:
    typeahead = acks.TypeaheadResult([0.01], [0.01], [0.001], 100)
    results = [
        acks.AckResult(
            10,
            [kind(column, 1.0, 1.0 if met else 0.5) for column in acks.COLUMNS],
            typeahead,
            0,
            0,
            Config(SQLITE, provider, 10),
            load_after="load average 1.5 / 1.0 / 0.5 (1 / 5 / 15 min)",
        )
        for provider, met in ((REST, True), (SOAP, False))
    ]
    table = acks.MatrixResult(results).table()
    rest_row = next(line for line in table if "sqlite REST 10 in flight" in line)
    soap_row = next(line for line in table if "sqlite SOAP 10 in flight" in line)
    assert rest_row.count(" met") == 6 and "MISSED" not in rest_row
    assert soap_row.count("MISSED") == 5
    assert "5 of 10" in table[-1]


def test_a_tiny_served_run_under_rest_on_sqlite_links_by_consent(monkeypatch) -> None:
    monkeypatch.setattr(acks, "TYPEAHEAD_REQUESTS", 3)
    monkeypatch.setattr(acks, "SETTLE_SECONDS", 0.0)
    result = acks.run(2, 1, provider=REST, database=SQLITE)

    assert [k.name for k in result.kinds][2] == "consent return (GET /nmbrs/callback)"
    for measured in result.kinds:
        assert len(measured.ours.seconds) == len(measured.bare.seconds) == 2
        assert measured.ours.failed == measured.bare.failed == 0
    assert result.typeahead.options_returned > 0
    assert "sqlite, Nmbrs REST" in "\n".join(result.lines())
