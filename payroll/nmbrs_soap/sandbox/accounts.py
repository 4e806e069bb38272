"""The sandbox's Nmbrs accounts: logins, their companies, switched-off permissions and faults.

Everything here is mutable while the sandbox runs; the server reads it on every request.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from payroll.nmbrs_soap.model import REQUIRED_PERMISSIONS
from payroll.sandbox_names import business_name, town

# Every `Service.Operation` the sandbox answers.
OPERATIONS = frozenset(REQUIRED_PERMISSIONS) | {"DebtorService.List_GetAll"}
EVERY_OPERATION = "*"


@dataclass(frozen=True)
class InjectedFault:
    """What a call answers instead of the normal answer.

    soap: an Nmbrs SOAP fault (`---> code: text`, HTTP 500); http_500: an HTTP 500 error page
    that is not SOAP; garbage: HTTP 200 with a body that is not XML; hang: no answer at all.
    """

    kind: Literal["soap", "http_500", "garbage", "hang"]
    code: int = 0
    text: str = ""


def soap_fault(code: int, text: str = "") -> InjectedFault:
    return InjectedFault("soap", code, text)


HTTP_500 = InjectedFault("http_500")
GARBAGE = InjectedFault("garbage")
HANG = InjectedFault("hang")


def _check_operations(names: Iterable[str]) -> list[str]:
    names = list(names)
    unknown = [name for name in names if name not in OPERATIONS]
    if unknown:
        raise ValueError(
            f"unknown operation(s) {', '.join(unknown)}; use Service.Operation names such as "
            "CompanyService.WageTax_GetXML"
        )
    return names


@dataclass
class SandboxCompany:
    id: int
    number: int
    name: str
    city: str = ""
    street: str = ""
    house_number: str = ""
    postal_code: str = ""
    phone: str = ""
    email: str = ""
    kvk_number: str = ""
    contact_name: str = ""
    guid: str = ""

    def __post_init__(self) -> None:
        if not self.guid:
            self.guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"nmbrs-sandbox:company:{self.id}"))


@dataclass
class SandboxAccount:
    """One Nmbrs login (a klant login with its user template and company filter)."""

    username: str
    token: str = field(repr=False)
    subdomain: str
    companies: list[SandboxCompany] = field(default_factory=list)
    permissions_off: set[str] = field(default_factory=set)
    api_subscription: bool = True
    latency: float = 0.0
    faults: dict[str, InjectedFault] = field(default_factory=dict)
    description: str = ""
    debtor_id: int = 1
    debtor_name: str = "Voorbeeld Administratie"

    def __post_init__(self) -> None:
        _check_operations(self.permissions_off)
        _check_operations(name for name in self.faults if name != EVERY_OPERATION)

    def switch_off(self, *permissions: str) -> None:
        self.permissions_off.update(_check_operations(permissions))

    def switch_on(self, *permissions: str) -> None:
        self.permissions_off.difference_update(_check_operations(permissions))

    def fail(self, fault: InjectedFault, operation: str = EVERY_OPERATION) -> None:
        """Answer `operation` (a `Service.Operation`, or every call with "*") with `fault`."""
        if operation != EVERY_OPERATION:
            _check_operations([operation])
        self.faults[operation] = fault

    def heal(self) -> None:
        self.faults.clear()

    def fault_for(self, operation: str) -> InjectedFault | None:
        return self.faults.get(operation) or self.faults.get(EVERY_OPERATION)

    def company(self, company_id: int) -> SandboxCompany | None:
        return next((c for c in self.companies if c.id == company_id), None)


class AccountRegistry:
    """The accounts by username; thread-safe, changeable while the sandbox runs."""

    def __init__(self, accounts: Iterable[SandboxAccount] = ()):
        self._lock = threading.Lock()
        self._accounts: dict[str, SandboxAccount] = {}
        for account in accounts:
            self.add(account)

    def add(self, account: SandboxAccount) -> SandboxAccount:
        with self._lock:
            self._accounts[account.username] = account
        return account

    def reset(self, accounts: Iterable[SandboxAccount]) -> None:
        """Replace every account, e.g. with a fresh `demo_accounts()` between tests."""
        fresh = {account.username: account for account in accounts}
        with self._lock:
            self._accounts = fresh

    def remove(self, username: str) -> None:
        with self._lock:
            del self._accounts[username]

    def get(self, username: str) -> SandboxAccount | None:
        with self._lock:
            return self._accounts.get(username)

    def __getitem__(self, username: str) -> SandboxAccount:
        account = self.get(username)
        if account is None:
            raise KeyError(f"no sandbox account {username!r}")
        return account

    def __contains__(self, username: object) -> bool:
        with self._lock:
            return username in self._accounts

    def __iter__(self) -> Iterator[SandboxAccount]:
        with self._lock:
            return iter(list(self._accounts.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._accounts)


DEMO_USERNAME = "demo@voorbeeld.nl"
DEMO_TOKEN = "5f2b8c1e7a9d4036b1e8c2f47a6d9e03"
MANY_COMPANIES_USERNAME = "groot@voorbeeld.nl"
PERMISSIONS_OFF_USERNAME = "rechten@voorbeeld.nl"
NO_COMPANIES_USERNAME = "leeg@voorbeeld.nl"
NO_SUBSCRIPTION_USERNAME = "geenapi@voorbeeld.nl"

DEMO_PERMISSIONS_OFF = (
    "CompanyService.WageTax_GetXML",
    "EmployeeService.Salary_GetAll_AllEmployeesByCompany",
    "ReportService.Reports_Accountant_Company_EmployeeWageComponentsPerRun_Background",
)

MANY_COMPANIES = 5000


def demo_companies() -> list[SandboxCompany]:
    rows = (
        (48201, "Bakkerij De Gouden Korst B.V.", "Utrecht", "Oudegracht 112", "3511 AZ",
         "030-2345678", "salaris@goudenkorst.nl", "30123456", "Anouk de Vries"),
        (48202, "Fietsenmakerij Van Dijk", "Groningen", "Vismarkt 8", "9711 KS",
         "050-3456789", "info@fietsenvandijk.nl", "02123457", "Sander van Dijk"),
        (48203, "Tuincentrum Het Groene Hart B.V.", "Gouda", "Goudse Houtsingel 30", "2801 AB",
         "0182-456789", "personeel@groenehart.nl", "29123458", "Fatima el Amrani"),
        (48204, "Koffiebranderij Brouwer & Zonen B.V.", "Haarlem", "Grote Markt 21", "2011 RD",
         "023-5678901", "hr@brouwerkoffie.nl", "34123459", "Joost Brouwer"),
        (48205, "Installatiebedrijf Jansen Techniek B.V.", "Eindhoven", "Stratumseind 5",
         "5611 ET", "040-6789012", "administratie@jansentechniek.nl", "17123460",
         "Mireille Jansen"),
    )  # fmt: skip
    return [
        SandboxCompany(
            id=company_id,
            number=number,
            name=name,
            city=city,
            street=address.rsplit(" ", 1)[0],
            house_number=address.rsplit(" ", 1)[1],
            postal_code=postal_code,
            phone=phone,
            email=email,
            kvk_number=kvk_number,
            contact_name=contact,
        )
        for number, (
            company_id,
            name,
            city,
            address,
            postal_code,
            phone,
            email,
            kvk_number,
            contact,
        ) in enumerate(rows, start=1)
    ]


def many_companies(count: int = MANY_COMPANIES, first_id: int = 700001) -> list[SandboxCompany]:
    """`count` companies numbered from 1 with Dutch business names ("Bakkerij Jansen Amsterdam
    B.V.", payroll.sandbox_names), the same for the same `count`."""
    return [
        SandboxCompany(
            first_id + n,
            n + 1,
            business_name(n),
            town(n),
            kvk_number=f"{60000000 + n}",
        )
        for n in range(count)
    ]


def demo_accounts() -> list[SandboxAccount]:
    """The demo login with a handful of Dutch companies, one with 5,000 companies, and a few
    handy ones: three permissions off, no companies, no API subscription."""
    return [
        SandboxAccount(
            DEMO_USERNAME,
            DEMO_TOKEN,
            "voorbeeld",
            demo_companies(),
            description="5 Dutch companies, every permission on",
        ),
        SandboxAccount(
            MANY_COMPANIES_USERNAME,
            "9c4e7b2a1f6d48e3a5b0c7d9e2f41a86",
            "grootkantoor",
            many_companies(),
            description="an accountant's login that sees 5,000 companies",
            debtor_id=2,
            debtor_name="Groot Administratiekantoor",
        ),
        SandboxAccount(
            PERMISSIONS_OFF_USERNAME,
            "3a8d1f5c9e2b47d6b0a4e8c1f7d25b94",
            "voorbeeld",
            demo_companies()[:3],
            permissions_off=set(DEMO_PERMISSIONS_OFF),
            description="3 permissions switched off in the user template",
        ),
        SandboxAccount(
            NO_COMPANIES_USERNAME,
            "e1b7c4a9d3f6482e9a5c0b8d2e7f3a61",
            "voorbeeld",
            description="a klant login without a company filter: sees no companies",
        ),
        SandboxAccount(
            NO_SUBSCRIPTION_USERNAME,
            "7d2f9a4c1e8b43a6b5d0e3c9f1a86b27",
            "zonderapi",
            demo_companies()[:1],
            api_subscription=False,
            description="an Nmbrs subscription without API access",
            debtor_id=3,
            debtor_name="Zonder API B.V.",
        ),
    ]
