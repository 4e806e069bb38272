"""The company type-ahead: a search over the companies a login sees, by name or number.

The lists are kept with the onboarding or the link session as [id, number, name] triples;
`CompanyListCache` keeps those of the onboardings being typed in, packed (`PackedCompanies`).
"""

from __future__ import annotations

import bisect
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
    """A login's companies packed for the type-ahead, in the order its answers are sorted in
    (by name, then number): the names, their casefolded forms and the numbers each in one
    string, the ids and numbers in compact columns. About 100 bytes a company (5,000: ~0.5
    MiB) where the decoded [id, number, name] lists take 215. A keystroke is a few C
    string searches (`str.find`) that stop at the first MAX_SUGGESTIONS names: ~0.05 ms for
    5,000 companies, where comparing each name in Python took ~2 ms."""

    __slots__ = (
        "_folded",
        "_folded_starts",
        "_ids",
        "_names",
        "_name_starts",
        "_numbers",
        "_number_text",
        "_number_starts",
    )

    def __init__(self, companies: Iterable[Sequence[Any]]):
        rows = sorted(
            (str(name).replace(SEPARATOR, " ").casefold(), number, company_id, str(name))
            for company_id, number, name in companies
        )
        self._ids = _Column([row[2] for row in rows])
        self._numbers = _Column([row[1] for row in rows])
        self._names, self._name_starts = _joined(row[3].replace(SEPARATOR, " ") for row in rows)
        self._folded, folded_starts = _joined(row[0] for row in rows)
        # The same offsets, unless casefolding changed a name's length ("ß" is "ss").
        same = folded_starts == self._name_starts
        self._folded_starts = self._name_starts if same else folded_starts
        # Each number after a SEPARATOR, so that a prefix is found as SEPARATOR + prefix.
        numbers, self._number_starts = _joined(str(row[1]) for row in rows)
        self._number_text = SEPARATOR + numbers

    def __len__(self) -> int:
        return len(self._name_starts)

    @property
    def size(self) -> int:
        """Bytes held (the strings, the columns and the offsets)."""
        offsets = {id(a): a for a in (self._name_starts, self._folded_starts, self._number_starts)}
        return (
            sum(sys.getsizeof(text) for text in (self._names, self._folded, self._number_text))
            + self._ids.size
            + self._numbers.size
            + sum(starts.itemsize * len(starts) for starts in offsets.values())
        )

    def search(self, query: str) -> list[Company]:
        """Those whose name contains the query or whose number starts with it, sorted by name,
        at most MAX_SUGGESTIONS."""
        needle = query.strip().casefold()
        if SEPARATOR in needle or not len(self):
            return []
        by_name = _found(self._folded, self._folded_starts, needle, limit=MAX_SUGGESTIONS)
        # A number's prefix: SEPARATOR + needle, found at the SEPARATOR before the number,
        # which in `_numbers` (one SEPARATOR ahead) is where the number begins in the offsets.
        by_number = _found(self._number_text, self._number_starts, SEPARATOR + needle)
        best = sorted(set(by_name).union(by_number))[:MAX_SUGGESTIONS]
        return [self._company(index) for index in best]

    def _company(self, index: int) -> Company:
        return Company(
            id=self._ids[index],
            number=self._numbers[index],
            name=_piece(self._names, self._name_starts, index),
        )


class _Column:
    """One value per company, compactly: ints in an array (8 bytes each, where a tuple of ints
    takes 36), strings joined in one; other values (or a mix) in a tuple."""

    __slots__ = ("_ints", "_text", "_values")

    def __init__(self, values: list[Any]):
        self._ints: array[int] | None = None
        self._text: tuple[str, array[int]] | None = None
        self._values: tuple[Any, ...] | None = None
        if all(type(value) is int and -(2**63) <= value < 2**63 for value in values):
            self._ints = array("q", values)
        elif all(type(value) is str and SEPARATOR not in value for value in values):
            self._text = _joined(values)
        else:
            self._values = tuple(values)

    def __getitem__(self, index: int) -> Any:
        if self._ints is not None:
            return self._ints[index]
        if self._text is not None:
            return _piece(*self._text, index)
        assert self._values is not None
        return self._values[index]

    @property
    def size(self) -> int:
        if self._ints is not None:
            return self._ints.itemsize * len(self._ints)
        if self._text is not None:
            text, starts = self._text
            return sys.getsizeof(text) + starts.itemsize * len(starts)
        assert self._values is not None
        return sys.getsizeof(self._values) + sum(sys.getsizeof(v) for v in self._values)


def _found(text: str, starts: array[int], needle: str, *, limit: int | None = None) -> list[int]:
    """The indices of the pieces of `text` (joined, beginning at `starts`) that hold `needle`,
    in order, at most `limit`."""
    found: list[int] = []
    at = text.find(needle)
    while at != -1 and (limit is None or len(found) < limit):
        index = bisect.bisect_right(starts, at) - 1
        found.append(index)
        if index + 1 == len(starts):
            break
        at = text.find(needle, starts[index + 1])
    return found


def _piece(text: str, starts: array[int], index: int) -> str:
    end = starts[index + 1] - 1 if index + 1 < len(starts) else len(text)
    return text[starts[index] : end]


def _joined(pieces: Iterable[str]) -> tuple[str, array[int]]:
    """The pieces joined by SEPARATOR, and where each begins."""
    parts, starts, at = [], array("I"), 0
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
