"""The payroll providers the bot works with at once: every link names the one it was made with
(`PayrollLink.provider`), and new onboardings use the one NMBRS_API chose, until its end date.

Nmbrs ends its SOAP API on `soap_ends_on` (NMBRS_SOAP_END_DATE): from that day no SOAP
onboarding starts (`SoapEnded`), and SOAP links must move to the REST API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from bot.core.payroll import NMBRS_REST, NMBRS_SOAP, ConsentProvider, PayrollProvider


class SoapEnded(Exception):
    """A new SOAP onboarding after the SOAP API's end date."""

    def __init__(self, ended_on: date):
        self.ended_on = ended_on
        super().__init__(f"the Nmbrs SOAP API ended on {ended_on.isoformat()}")


class ProviderMissing(LookupError):
    """A link or onboarding names a provider this process was not configured for."""


@dataclass(frozen=True)
class Providers:
    available: Mapping[str, PayrollProvider]
    # The provider new onboardings use (NMBRS_API).
    for_new: str
    soap_ends_on: date = date(2027, 3, 1)

    @classmethod
    def only(cls, provider: PayrollProvider, *, soap_ends_on: date = date(2027, 3, 1)) -> Providers:
        """One provider for everything (tests, tools)."""
        return cls({provider.name: provider}, provider.name, soap_ends_on)

    def get(self, name: str | None) -> PayrollProvider:
        """The provider of that name; None means SOAP (rows from before there were two)."""
        key = name or NMBRS_SOAP
        try:
            return self.available[key]
        except KeyError:
            raise ProviderMissing(f"no payroll provider {key!r} is configured") from None

    def consent(self, name: str | None = NMBRS_REST) -> ConsentProvider:
        """The provider customers consent to (the REST API); ProviderMissing when absent."""
        provider = self.get(name)
        if not isinstance(provider, ConsentProvider):
            raise ProviderMissing(f"payroll provider {provider.name!r} takes no consent")
        return provider

    def for_new_onboarding(self, today: date) -> PayrollProvider:
        """The provider a new onboarding uses today; SoapEnded when that is SOAP after its end."""
        if self.for_new == NMBRS_SOAP and self.soap_ended(today):
            raise SoapEnded(self.soap_ends_on)
        return self.get(self.for_new)

    def soap_ended(self, today: date) -> bool:
        return today >= self.soap_ends_on

    def days_until_soap_ends(self, today: date) -> int:
        """Whole days left (0 on and after the end date)."""
        return max(0, (self.soap_ends_on - today).days)
