"""The payroll provider seen by the conversation.

The onboarding depends on this interface only. Nmbrs' SOAP API loses support on 2027-03-01;
a REST provider can implement the same protocol without touching the conversation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

# The API permissions the user template must have switched on, as `Service.Operation`, grouped by
# service in the order of the onboarding tutorial. Some operations (List_GetAll, ...) exist in more
# than one service, so a permission is always named with its service.
REQUIRED_PERMISSIONS_BY_SERVICE: dict[str, tuple[str, ...]] = {
    "CompanyService": (
        "Address_GetCurrent",
        "Company_GetCurrentPeriod",
        "ContactPerson_Get",
        "Converter_GetByCompany_IntToGuid",
        "List_GetAll",
        "WageTax_GetList",
        "WageTax_GetXML",
        "Run_GetList",
    ),
    "DebtorService": ("Environment_Get",),
    "EmployeeService": (
        "Address_GetAll_AllEmployeesByCompany",
        "Contract_GetAll_AllEmployeesByCompany",
        "Employment_GetAll_AllEmployeesByCompany",
        "EmployeeType_GetList",
        "List_GetByCompany",
        "PersonalInfo_GetAll_AllEmployeesByCompany",
        "Salary_GetAll_AllEmployeesByCompany",
        "Schedule_Get",
        "Schedule_GetAll_AllEmployeesByCompany",
        "SVW_GetAll_AllEmployeesByCompany",
        "SVW_GetList",
    ),
    "ReportService": (
        "Reports_BackgroundTask_Result",
        "Reports_Accountant_Company_EmployeeWageComponentsPerRun_Background",
    ),
}

REQUIRED_PERMISSIONS: tuple[str, ...] = tuple(
    f"{service}.{operation}"
    for service, operations in REQUIRED_PERMISSIONS_BY_SERVICE.items()
    for operation in operations
)

# A listing with more companies than this comes without GUIDs unless they are asked for:
# Nmbrs converts one company per call.
GUIDS_FOR_ALL_UP_TO = 50


def group_by_service(permissions: Iterable[str]) -> dict[str, list[str]]:
    """`Service.Operation` names grouped as {service: [operation, ...]}, in the order given."""
    grouped: dict[str, list[str]] = {}
    for permission in permissions:
        service, _, operation = permission.partition(".")
        grouped.setdefault(service, []).append(operation)
    return grouped


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


@dataclass(frozen=True)
class AccountCheck:
    """Everything the credentials step needs, from one call of `check_account`."""

    environment: Environment
    companies: list[Company]
    missing_permissions: list[str]


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
        """Raises WrongCredentials, NoSubscription, ProviderUnavailable, or PermissionsMissing
        when the environment call itself is switched off."""

    def list_companies(
        self,
        credentials: Credentials,
        environment: Environment,
        *,
        with_guids_for: set[int] | None = None,
    ) -> list[Company]:
        """Every company the login can see. GUIDs are looked up for the ids in `with_guids_for`
        (all of them when None); one call per company, so callers pass the chosen ones.
        Raises PermissionsMissing when listing companies is switched off."""

    def check_permissions(
        self, credentials: Credentials, environment: Environment, *, company_id: int | None
    ) -> list[str]:
        """Names (`Service.Operation`) of the required permissions that are switched off."""

    def company_guids(
        self, credentials: Credentials, environment: Environment, company_ids: Iterable[int]
    ) -> dict[int, str]:
        """The GUID of each company id given (one call per company)."""

    def check_account(
        self, credentials: Credentials, *, with_guids_for: set[int] | None = None
    ) -> AccountCheck:
        """The whole credentials check: environment, companies and missing permissions, as fast
        as the provider allows. GUIDs are looked up for the ids in `with_guids_for`; when None,
        for every company if there are at most GUIDS_FOR_ALL_UP_TO of them, else for none.
        Missing permissions are reported in the result, not raised; raises WrongCredentials,
        NoSubscription, NoAccess, InvalidDomain or ProviderUnavailable."""
