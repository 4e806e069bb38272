"""Where the move of the links to the Nmbrs REST API stands: how many of the links (not
unlinked) work through the REST API, and how many days the SOAP API has left. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.core.payroll import NMBRS_REST


@dataclass(frozen=True)
class MigrationStatus:
    """`on_rest` of `total` links work through the REST API; `days_left` until the SOAP API
    ends on `soap_ends_on` (0 once it has: `ended`)."""

    on_rest: int
    total: int
    days_left: int
    soap_ends_on: date
    ended: bool

    @property
    def still_soap(self) -> int:
        """The links that must still move (after the end: that need a relink)."""
        return self.total - self.on_rest


def migration_status(
    providers: Iterable[str | None], *, days_left: int, soap_ends_on: date, ended: bool
) -> MigrationStatus:
    """The status of the links naming `providers` (None: SOAP, rows from before REST), with
    the days left as `bot.usecases.providers.Providers` counts them."""
    names = list(providers)
    return MigrationStatus(
        on_rest=sum(1 for name in names if name == NMBRS_REST),
        total=len(names),
        days_left=days_left,
        soap_ends_on=soap_ends_on,
        ended=ended,
    )
