"""The company type-ahead: a search over the companies a login sees, by name or number.

The lists are kept with the onboarding or the link session as [id, number, name] triples;
`CompanyListCache` keeps the decoded lists of the onboardings being typed in.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from bot.core.model import Company

# Type-ahead answers: at least this many characters, at most this many companies.
MIN_QUERY_LENGTH = 2
MAX_SUGGESTIONS = 100


class CompanyListCache:
    """The company lists of the onboardings being typed in, by onboarding id and row version:
    each keystroke of the type-ahead then costs a version lookup instead of decoding the whole
    kept list (5,000 companies are ~170 KB of JSON). Any change to the row bumps its version,
    so an entry is never stale. Thread-safe; keeps the last used lists up to MAX_COMPANIES
    companies in all (about 1 MB of memory per 5,000)."""

    MAX_COMPANIES = 250_000

    def __init__(self) -> None:
        self._entries: OrderedDict[int, tuple[int, tuple[Any, ...]]] = OrderedDict()
        self._companies = 0
        self._lock = threading.Lock()

    def get(self, onboarding_id: int, version: int) -> tuple[Any, ...] | None:
        with self._lock:
            entry = self._entries.get(onboarding_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(onboarding_id)
            return entry[1]

    def put(self, onboarding_id: int, version: int, companies: tuple[Any, ...]) -> None:
        with self._lock:
            replaced = self._entries.pop(onboarding_id, None)
            if replaced is not None:
                self._companies -= len(replaced[1])
            self._entries[onboarding_id] = (version, companies)
            self._companies += len(companies)
            while self._companies > self.MAX_COMPANIES and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._companies -= len(dropped)


def search_companies(rows: Iterable[Company], query: str) -> list[Company]:
    """Companies whose name contains the query or whose number starts with it, sorted by name,
    at most MAX_SUGGESTIONS."""
    return search_triples(((row.id, row.number, row.name) for row in rows), query)


def search_triples(companies: Iterable[Sequence[Any]], query: str) -> list[Company]:
    """The search over stored [id, number, name] triples; rows are built for the best only."""
    needle = query.strip().casefold()
    matches = (
        (name.casefold(), number, company_id, name)
        for company_id, number, name in companies
        if needle in name.casefold() or str(number).startswith(needle)
    )
    return [
        Company(id=company_id, number=number, name=name)
        for _, number, company_id, name in heapq.nsmallest(MAX_SUGGESTIONS, matches)
    ]
