"""The type-ahead's search over a packed company list finds what a plain look at every company
finds: the names that hold the query and the numbers that begin with it, by name, at most
MAX_SUGGESTIONS."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.model import Company
from bot.usecases.company_search import MAX_SUGGESTIONS, SEPARATOR, PackedCompanies

names = st.text(alphabet="abAB éÉß.\x00-", max_size=8)
companies = st.lists(
    st.tuples(st.integers(1, 10**6).map(str), st.integers(1, 999), names), max_size=250
)


def every_company_looked_at(rows: list[tuple[str, int, str]], query: str) -> list[Company]:
    needle = query.strip().casefold()
    if SEPARATOR in needle:
        return []
    matching = sorted(
        (name.replace(SEPARATOR, " ").casefold(), number, company_id, name.replace(SEPARATOR, " "))
        for company_id, number, name in rows
        if needle in name.replace(SEPARATOR, " ").casefold() or str(number).startswith(needle)
    )
    return [
        Company(id=company_id, number=number, name=name)
        for _, number, company_id, name in matching[:MAX_SUGGESTIONS]
    ]


@settings(max_examples=300, deadline=None)
@given(rows=companies, query=st.one_of(names, st.integers(1, 99).map(str)))
def test_the_packed_search_finds_what_looking_at_every_company_finds(
    rows: list[tuple[str, int, str]], query: str
) -> None:
    assert PackedCompanies(rows).search(query) == every_company_looked_at(rows, query)


def test_a_name_and_a_number_that_both_match_count_once_in_name_order() -> None:
    rows = [("1", 4821, "Zuivel 48 B.V."), ("2", 4822, "Bakkerij 48"), ("3", 12, "Slagerij")]

    found = PackedCompanies(rows).search("48")

    assert [company.name for company in found] == ["Bakkerij 48", "Zuivel 48 B.V."]


def test_five_thousand_matches_give_the_first_hundred_by_name() -> None:
    rows = [(str(n), n, f"Bakkerij {n:04d}") for n in range(5000, 0, -1)]

    found = PackedCompanies(rows).search("bakkerij")

    assert [company.number for company in found] == list(range(1, MAX_SUGGESTIONS + 1))
