"""Which REST company each company of a SOAP link is, when the link moves to the REST API.

The SOAP link keeps its companies as SOAP's int id (the ref), the GUID the SOAP converter gave,
the number and the name; a consent shows the REST companies (companyId, number, name). The GUID
should be the REST companyId (spec §5, unconfirmed), so a company is matched by its GUID first;
else by its number and name together (names casefolded, every run of whitespace one space).
A company no REST company answers, or where the number and name point at more than one, is not
found: nothing is guessed, the customer chooses.

Pure: `match_companies` is called by the relink by consent and its screen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core.model import Company
from bot.core.payroll import one_line


class MatchedBy(StrEnum):
    GUID = "guid"
    NUMBER_AND_NAME = "number_and_name"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class CompanyMatch:
    """One linked company and the REST company it is (None when not found), and how."""

    linked: Company
    rest: Company | None
    how: MatchedBy


def same_name(name: str) -> str:
    """A name as compared: one line, casefolded."""
    return one_line(name).casefold()


def same_guid(guid: str) -> str:
    """A GUID as compared: without braces and spaces, casefolded (GUIDs ignore case)."""
    return guid.strip().strip("{}").strip().casefold()


def match_companies(linked: Sequence[Company], rest: Sequence[Company]) -> tuple[CompanyMatch, ...]:
    """For every linked company (`guid` the SOAP GUID), in order, the REST company (`id` its
    companyId) it is. No REST company is matched twice: a GUID match comes first; a number and
    name match only when exactly one REST company not matched by GUID and exactly one linked
    company not matched by GUID have that number and name."""
    by_guid: dict[str, Company] = {}
    for company in rest:
        by_guid.setdefault(same_guid(company.id), company)
    matched: dict[int, Company] = {}
    taken: set[str] = set()
    for index, company in enumerate(linked):
        if not company.guid:
            continue
        found = by_guid.get(same_guid(company.guid))
        if found is not None and found.id not in taken:
            matched[index] = found
            taken.add(found.id)
    by_guid_index = set(matched)

    def key(company: Company) -> tuple[int, str]:
        return company.number, same_name(company.name)

    free = [company for company in rest if company.id not in taken]
    free_keys = Counter(key(company) for company in free)
    waiting_keys = Counter(
        key(company) for index, company in enumerate(linked) if index not in by_guid_index
    )
    free_by_key = {key(company): company for company in free}
    matches = []
    for index, company in enumerate(linked):
        if index in by_guid_index:
            matches.append(CompanyMatch(company, matched[index], MatchedBy.GUID))
            continue
        wanted = key(company)
        if free_keys[wanted] == 1 and waiting_keys[wanted] == 1:
            matches.append(CompanyMatch(company, free_by_key[wanted], MatchedBy.NUMBER_AND_NAME))
        else:
            matches.append(CompanyMatch(company, None, MatchedBy.NOT_FOUND))
    return tuple(matches)
