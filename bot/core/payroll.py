"""The payroll provider port: what the onboarding and the links ask of a payroll API.

Owned by the core, implemented by a folder under `payroll/` (today `payroll.nmbrs_soap`). Each
provider defines what its connection's secret is (an API token, an OAuth grant), how it names a
company (a reference string), and which access a link needs (permissions, scopes) with the words
the customer finds it by at the provider. The use cases keep a connection and pass it back; they
never look inside the secret.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Connection:
    """One login at the provider, as the provider defines it.

    `account` names the login to people (a username, an approving user), `environment` says
    where its data lives as the provider tells it after a check (an Nmbrs subdomain), and
    `secret` is what the provider needs to act for it (an API token, a grant): opaque, kept
    encrypted, never in repr or str."""

    account: str
    secret: str = field(repr=False)
    environment: str = ""

    def __str__(self) -> str:
        return f"Connection(account={self.account!r}, environment={self.environment!r})"


@dataclass(frozen=True)
class ProviderCompany:
    """A company the connection can see. `ref` is how the provider addresses it; `guid` is
    Nmbrs' company identity across its APIs, where the provider has it (see
    `PayrollProvider.companies_to_link`)."""

    ref: str
    number: int
    name: str
    guid: str | None = None


@dataclass(frozen=True)
class AccountCheck:
    """Everything the connect step needs, from one call of `check_account`. `missing_access`
    names the required access that is not granted (ids of `PayrollProvider.required_access`)."""

    environment: str
    companies: list[ProviderCompany]
    missing_access: list[str]


class ProviderError(Exception):
    """Base of every provider failure. Messages never contain a secret."""

    code: str = "provider_error"


class WrongCredentials(ProviderError):
    """The provider does not accept the connection's secret."""

    code = "wrong_credentials"


class PermissionsMissing(ProviderError):
    """Required access is not granted; `missing` holds its ids."""

    code = "permissions_missing"

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__("permissions switched off: " + ", ".join(missing))


class NoSubscription(ProviderError):
    """The account has no API access."""

    code = "no_subscription"


class NoAccess(ProviderError):
    """The login may not see this data."""

    code = "no_access"


class InvalidDomain(ProviderError):
    """The connection's environment is not (or no longer) the login's."""

    code = "invalid_domain"


class ProviderUnavailable(ProviderError):
    """Timeout, an HTTP error, an unreadable answer or the provider's own unknown error."""

    code = "unavailable"


class Throttled(ProviderUnavailable):
    """The provider kept answering "too many calls" after backing off: try again shortly."""

    code = "throttled"


class QuotaExceeded(ProviderUnavailable):
    """The provider's call quota of the plan is used up: not retried, it lasts until the plan's
    period renews."""

    code = "quota_exceeded"


class UnexpectedAnswer(ProviderUnavailable):
    """An answer no real one looks like: larger than any real answer, or a value out of shape
    (a domain that is no hostname, a name longer than a name). Nothing of it is kept."""

    code = "unexpected_answer"


# What a provider hands over as a name (a company's, a debtor's): one line, of at most this many
# characters. Far above any real name; a longer one is an UnexpectedAnswer.
MAX_NAME_LENGTH = 255
# Separators besides what str.split() takes for whitespace: the other control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str | None) -> str:
    """A name from the payroll provider as one line: every run of whitespace (line breaks, tabs,
    Unicode spaces, line and paragraph separators) and of control characters becomes one space,
    and the ends are stripped. A company name shown to people can then start no line of its
    own."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def provider_name(text: str | None, what: str) -> str:
    """`text` as a name people will see: one line; an UnexpectedAnswer, "`what` of N
    characters", when it is longer than any name."""
    name = one_line(text)
    if len(name) > MAX_NAME_LENGTH:
        raise UnexpectedAnswer(f"{what} of {len(name)} characters")
    return name


# The providers' names, as links record them (`PayrollLink.provider`).
NMBRS_SOAP = "nmbrs"
NMBRS_REST = "nmbrs-rest"


class PayrollProvider(Protocol):
    """Blocking calls: async callers run them in a thread pool."""

    name: str
    # Every access a link needs, as ids (`Service.Operation` permissions, OAuth scopes), in the
    # order the provider explains them.
    required_access: tuple[str, ...]
    # What that access lets a link read, as data keys the catalogues word for the customer
    # ("employees", "salaries", "wage_tax_returns", ...).
    data_read: tuple[str, ...]

    def describe_access(self, access: Iterable[str]) -> dict[str, list[str]]:
        """The access given, as the customer finds it at the provider: {group: [item, ...]}
        in the provider's order. Pure: screens call it."""
        ...

    def check_account(
        self, connection: Connection, *, to_link: Collection[str] = ()
    ) -> AccountCheck:
        """The whole check of a connection: its environment, every company it can see and the
        required access not granted (in the result, not raised). The companies whose refs are
        in `to_link` come as `companies_to_link` would give them, as cheaply as the provider
        can. Raises WrongCredentials, NoSubscription, NoAccess, InvalidDomain or
        ProviderUnavailable."""
        ...

    def list_companies(self, connection: Connection) -> list[ProviderCompany]:
        """Every company the connection can see. Raises PermissionsMissing when listing them
        is not granted."""
        ...

    def companies_to_link(
        self, connection: Connection, companies: Sequence[ProviderCompany]
    ) -> list[ProviderCompany]:
        """The chosen companies, in order, with what a link keeps of them filled in (Nmbrs
        SOAP: the GUID, one call per company that has none yet)."""
        ...


# --- a provider the customer connects to by consent in a browser (OAuth 2.0) ---------------


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the customer's browser to approve our app, and the PKCE verifier the
    callback's code exchange needs (kept server-side, encrypted, until then)."""

    url: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class Consent:
    """What a consent gave, checked: the connection to keep (its secret the grant), the port's
    check, and who approved for which debtors (shown before anything is linked)."""

    connection: Connection
    check: AccountCheck
    approved_by: str
    debtors: list[str]


@runtime_checkable
class ConsentProvider(PayrollProvider, Protocol):
    """A provider whose connection comes from the customer's consent at the provider (the Nmbrs
    REST API) instead of a typed secret. Blocking calls."""

    def authorization_start(self, *, redirect_uri: str, state: str) -> AuthorizationStart:
        """The authorize URL with `state` and a fresh PKCE challenge; pure, no call."""
        ...

    def connect(self, code: str, *, redirect_uri: str, code_verifier: str) -> Consent:
        """The code exchanged and the connection checked. WrongCredentials when the provider
        refuses the code; NoSubscription, NoAccess or ProviderUnavailable as a check."""
        ...

    def refresh(self, connection: Connection) -> Connection:
        """The connection with a new grant. The old grant dies when this returns: store the
        result in the transaction that asked. WrongCredentials when the grant is no longer
        honoured (the customer must consent again)."""
        ...

    def revoke(self, connection: Connection) -> None:
        """End the grant at the provider (ProviderUnavailable when it could not be told)."""
        ...

    def access_expires_at(self, connection: Connection) -> datetime:
        """When the connection's access token expires (UTC); pure, no call."""
        ...

    def access_token(self, connection: Connection) -> str:
        """The bearer token a job sends for this connection (secret: keep it in memory only)."""
        ...
