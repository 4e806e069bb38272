"""The company type-ahead: a search over the companies a login sees, by name or number.

The lists are kept with the onboarding or the link session as [id, number, name] triples;
`CompanyListCache` keeps those of the onboardings being typed in, packed (`PackedCompanies`).
"""

from __future__ import annotations

import heapq
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from bot.core.model import Company

# Type-ahead answers: at least this many characters, at most this many companies.
MIN_QUERY_LENGTH = 2
MAX_SUGGESTIONS = 100
# What the kept company lists may hold in all, unless COMPANY_CACHE_MIB says otherwise.
DEFAULT_CACHE_MIB = 32
DEFAULT_CACHE_BYTES = DEFAULT_CACHE_MIB * 2**20
# Between the names in a packed list (no name holds it: it is replaced by a space).
SEPARATOR = "\x00"


class PackedCompanies:
    """A login's companies packed for the type-ahead: the names (and their casefolded forms)
    each in one string, the ids and numbers in tuples. About 110 bytes a company with SOAP's
    int ids (170 with REST's UUIDs) where the decoded [id, number, name] lists take 215 (300),
    and the casefolded names are kept instead of folded again at every keystroke."""

    __slots__ = ("_folded", "_ids", "_names", "_name_starts", "_numbers")

    def __init__(self, companies: Iterable[Sequence[Any]]):
        ids, numbers, names = [], [], []
        for company_id, number, name in companies:
            ids.append(company_id)
            numbers.append(number)
            names.append(str(name).replace(SEPARATOR, " "))
        self._ids = tuple(ids)
        self._numbers = tuple(numbers)
        self._names, self._name_starts = _joined(names)
        self._folded = SEPARATOR.join(name.casefold() for name in names)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def size(self) -> int:
        """Bytes held (the strings, tuples and offsets; ids and numbers counted one by one)."""
        return (
            sys.getsizeof(self._names)
            + sys.getsizeof(self._folded)
            + sum(sys.getsizeof(value) for value in (*self._ids, *self._numbers))
            + sys.getsizeof(self._ids)
            + sys.getsizeof(self._numbers)
            + self._name_starts.itemsize * len(self._name_starts)
        )

    def search(self, query: str) -> list[Company]:
        """Those whose name contains the query or whose number starts with it, sorted by name,
        at most MAX_SUGGESTIONS."""
        needle = query.strip().casefold()
        if SEPARATOR in needle or not self._ids:
            return []
        # Split for this search only: one C call, freed after, instead of 5,000 kept strings.
        folded, numbers, ids = self._folded.split(SEPARATOR), self._numbers, self._ids
        best = heapq.nsmallest(
            MAX_SUGGESTIONS,
            (
                (name, numbers[i], ids[i], i)
                for i, name in enumerate(folded)
                if needle in name or str(numbers[i]).startswith(needle)
            ),
        )
        return [
            Company(id=company_id, number=number, name=self._name(i))
            for _, number, company_id, i in best
        ]

    def _name(self, index: int) -> str:
        starts, names = self._name_starts, self._names
        end = starts[index + 1] - 1 if index + 1 < len(starts) else len(names)
        return names[starts[index] : end]


def _joined(pieces: Iterable[str]) -> tuple[str, array[int]]:
    """The pieces joined by SEPARATOR, and where each begins."""
    parts, starts, at = [], array("L"), 0
    for piece in pieces:
        starts.append(at)
        parts.append(piece)
        at += len(piece) + 1
    return SEPARATOR.join(parts), starts


class CompanyListCache:
    """The company lists of the onboardings being typed in, by onboarding id and row version,
    packed (`PackedCompanies`): each keystroke of the type-ahead then costs a version lookup
    instead of decoding the whole kept list (5,000 companies are ~170 KB of JSON). Any change
    to the row bumps its version, so an entry is never stale. Thread-safe; keeps the last used
    lists up to `max_bytes` in all (COMPANY_CACHE_MIB; 5,000 companies take ~0.55 MiB), and a
    list larger than that alone."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[int, PackedCompanies, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """What the kept lists hold."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, onboarding_id: int, version: int) -> PackedCompanies | None:
        with self._lock:
            entry = self._entries.get(onboarding_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(onboarding_id)
            return entry[1]

    def put(self, onboarding_id: int, version: int, companies: PackedCompanies) -> None:
        size = companies.size
        with self._lock:
            replaced = self._entries.pop(onboarding_id, None)
            if replaced is not None:
                self._bytes -= replaced[2]
            self._entries[onboarding_id] = (version, companies, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped


def search_companies(rows: Iterable[Company], query: str) -> list[Company]:
    """Companies whose name contains the query or whose number starts with it, sorted by name,
    at most MAX_SUGGESTIONS."""
    return PackedCompanies((row.id, row.number, row.name) for row in rows).search(query)
