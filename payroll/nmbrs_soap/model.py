"""What the Nmbrs SOAP API v3 speaks of: the 22 API permissions a link needs, a login's
username and token, its environment, and companies with their SOAP id and GUID.

The bot sees none of it: `payroll.nmbrs_soap.provider` translates to the core's port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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

# What those permissions let a link read, as data keys the bot's catalogues word for the customer
# (the same keys as the REST scopes', payroll.nmbrs_rest.model.DATA_BY_SCOPE).
DATA_READ: tuple[str, ...] = (
    "companies",
    "company_addresses",
    "contact_persons",
    "payroll_periods",
    "payroll_runs",
    "wage_tax_returns",
    "wage_components_per_run",
    "employees",
    "personal_details",
    "employee_addresses",
    "contracts",
    "employments",
    "salaries",
    "schedules",
    "social_insurance_settings",
)

# Limits of what an answer may hold, far above any real one: a real Nmbrs subdomain is one short
# label (a name's limit is the port's, bot.core.payroll.MAX_NAME_LENGTH). A value beyond them
# is an unexpected answer.
MAX_DOMAIN_LENGTH = 253  # a whole DNS name
_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_hostname(value: str) -> bool:
    """Whether `value` is shaped like a DNS name (an Nmbrs subdomain is its first label)."""
    return len(value) <= MAX_DOMAIN_LENGTH and all(
        _HOSTNAME_LABEL.fullmatch(label) for label in value.split(".")
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
    """Everything `SoapNmbrsClient.check_account` finds: environment, companies and the
    required permissions switched off."""

    environment: Environment
    companies: list[Company]
    missing_permissions: list[str]
