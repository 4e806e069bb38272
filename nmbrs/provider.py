"""The payroll provider seen by the conversation.

The onboarding depends on this interface only. Nmbrs' SOAP API loses support on 2027-03-01;
a REST provider can implement the same protocol without touching the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Credentials:
    """A username and API token. The token never appears in repr or str."""

    username: str
    token: str = field(repr=False)

    def __str__(self) -> str:
        return f"Credentials(username={self.username!r})"


@dataclass(frozen=True)
class Environment:
    """What a valid login belongs to. `domain` is the Nmbrs subdomain (acme of acme.nmbrs.nl)."""

    domain: str


@dataclass(frozen=True)
class Company:
    id: int
    number: int
    name: str
    guid: str | None = None


class ProviderError(Exception):
    """Base of every provider failure. Messages never contain the token."""

    code: str = "provider_error"


class WrongCredentials(ProviderError):
    code = "wrong_credentials"


class PermissionsMissing(ProviderError):
    code = "permissions_missing"

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__("permissions switched off: " + ", ".join(missing))


class NoSubscription(ProviderError):
    """The account has no API access (Nmbrs fault 1004)."""

    code = "no_subscription"


class NoAccess(ProviderError):
    """The login may not see this data (faults 1003, 2003, 2004, 2009)."""

    code = "no_access"


class InvalidDomain(ProviderError):
    code = "invalid_domain"


class ProviderUnavailable(ProviderError):
    """Timeout, HTTP 5xx, an unreadable answer or Nmbrs' own unknown error (9999)."""

    code = "unavailable"


class PayrollProvider(Protocol):
    """Blocking calls: async callers run them in a thread pool."""

    name: str

    def check_credentials(self, credentials: Credentials) -> Environment:
        """Raises WrongCredentials, NoSubscription or ProviderUnavailable."""

    def list_companies(
        self,
        credentials: Credentials,
        environment: Environment,
        *,
        with_guids_for: set[int] | None = None,
    ) -> list[Company]:
        """Every company the login can see. GUIDs are looked up for the ids in `with_guids_for`
        (all of them when None); one call per company, so callers pass the chosen ones."""

    def check_permissions(
        self, credentials: Credentials, environment: Environment, *, company_id: int | None
    ) -> list[str]:
        """Names (`Service.Operation`) of the required permissions that are switched off."""
