"""What the sandbox answers: Nmbrs SOAP v3 behaviour over the accounts, as SOAP 1.1 envelopes.

Authentication as in v3: `Environment_Get` takes `AuthHeader`, every other call
`AuthHeaderWithDomain` (an empty Domain is accepted, a wrong one is fault 2043). The sandbox has
no employees: calls for one employee answer 2003, company-wide employee lists come back empty.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from payroll.nmbrs_soap.sandbox.accounts import (
    OPERATIONS,
    AccountRegistry,
    InjectedFault,
    SandboxAccount,
    SandboxCompany,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICES = ("DebtorService", "CompanyService", "EmployeeService", "ReportService")

FAULT_TEXTS = {
    1001: "Invalid Authentication",
    1002: "Unauthorized Access",
    1003: "No rights to access this data",
    1004: "No valid subscription",
    2003: "No access to employee",
    2004: "No access to company",
    2009: "No access to debtor",
    2043: "Invalid domain",
    9999: "Unknown error",
}

EMPLOYEE_TYPES = ((1, "Werknemer"), (2, "Stagiair"), (3, "Oproepkracht"), (4, "DGA"))

# A result is None (no element), a scalar, or ordered (name, result) pairs.
Fields = list[tuple[str, Any]]


def namespace(service: str) -> str:
    return f"https://api.nmbrs.nl/soap/v3/{service}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    delay: float = 0.0
    hang: bool = False
    content_type: str = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class RecordedCall:
    """A call the sandbox received (never the token)."""

    operation: str  # Service.Operation
    username: str
    header: str  # AuthHeader or AuthHeaderWithDomain
    domain: str | None
    arguments: dict[str, str]
    at: float  # time.monotonic()


@dataclass(frozen=True)
class StartedReport:
    task_id: str
    company_id: int
    run_id: int
    year: int


class NmbrsFault(Exception):
    def __init__(self, code: int, text: str = ""):
        self.code = code
        self.text = text or FAULT_TEXTS.get(code, "Error")
        super().__init__(f"{code}: {self.text}")


class _ClientFault(Exception):
    """A request the server cannot take at all (soap:Client fault, no Nmbrs code)."""


@dataclass
class _Call:
    account: SandboxAccount
    arguments: dict[str, str]

    def int_argument(self, name: str) -> int:
        try:
            return int(self.arguments.get(name, ""))
        except ValueError:
            raise _ClientFault(
                f"Server was unable to read request. ---> {name} is not an int"
            ) from None

    def company(self, argument: str = "CompanyId") -> SandboxCompany:
        company = self.account.company(self.int_argument(argument))
        if company is None:
            raise NmbrsFault(2004)
        return company


@dataclass
class SandboxState:
    """Accounts plus what the sandbox remembers: calls received and background report tasks."""

    accounts: AccountRegistry
    latency: float = 0.0
    chunked: bool = False  # answer without Content-Length, in chunks
    # Nmbrs' own date, which its payroll runs and current period follow (the real one unless a
    # test sets another).
    today: Callable[[], date] = date.today
    calls: list[RecordedCall] = field(default_factory=list)
    started_reports: list[StartedReport] = field(default_factory=list)
    _tasks: dict[str, tuple[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_to(self, operation: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.operation == operation]

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def add_task(self, status: str, content: str = "", report: StartedReport | None = None) -> str:
        task_id = report.task_id if report else str(uuid.uuid4())
        with self._lock:
            self._tasks[task_id] = (status, content)
            if report:
                self.started_reports.append(report)
        return task_id

    def task(self, task_id: str) -> tuple[str, str]:
        with self._lock:
            return self._tasks.get(task_id.lower(), ("Unknown", ""))


def answer(state: SandboxState, service: str, soap_action: str, body: bytes) -> Answer:
    """The HTTP answer to one SOAP POST on `service`."""
    try:
        operation, header_name, header, arguments = _parse_request(service, soap_action, body)
    except _ClientFault as fault:
        return Answer(500, _fault_envelope("soap:Client", str(fault)))

    account = state.accounts.get(header.get("Username", ""))
    delay = state.latency + (account.latency if account else 0.0)
    permission = f"{service}.{operation}"
    if account is not None:
        state.record(
            RecordedCall(
                permission,
                account.username,
                header_name,
                header.get("Domain") if header_name == "AuthHeaderWithDomain" else None,
                arguments,
                time.monotonic(),
            )
        )
        injected = account.fault_for(permission)
        if injected is not None:
            return _injected(injected, delay)
    try:
        caller = _authorize(account, permission, header_name, header)
        result = _OPERATIONS[permission](state, _Call(caller, arguments))
    except NmbrsFault as fault:
        return Answer(500, _nmbrs_fault_envelope(fault.code, fault.text), delay)
    except _ClientFault as fault:
        return Answer(500, _fault_envelope("soap:Client", str(fault)), delay)
    return Answer(200, _response_envelope(service, operation, result), delay)


def _parse_request(
    service: str, soap_action: str, body: bytes
) -> tuple[str, str, dict[str, str], dict[str, str]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        envelope = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        raise _ClientFault(f"Server was unable to read request. ---> {error}") from None
    soap_body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope" or soap_body is None or len(soap_body) == 0:
        raise _ClientFault("Server was unable to read request: not a SOAP 1.1 envelope.")
    request = etree.QName(soap_body[0])
    operation = request.localname
    if (
        request.namespace != namespace(service)
        or f"{service}.{operation}" not in OPERATIONS
        or soap_action.strip('"') != f"{namespace(service)}/{operation}"
    ):
        raise _ClientFault(
            f"Server did not recognize the value of HTTP Header SOAPAction: {soap_action}."
        )
    header_name, header = "", {}
    soap_header = envelope.find(f"{{{SOAP_ENV}}}Header")
    for element in soap_header if soap_header is not None else []:
        name = etree.QName(element)
        if name.namespace == namespace(service) and name.localname in (
            "AuthHeader",
            "AuthHeaderWithDomain",
        ):
            header_name = name.localname
            header = {etree.QName(child).localname: child.text or "" for child in element}
    arguments = {etree.QName(child).localname: child.text or "" for child in soap_body[0]}
    return operation, header_name, header, arguments


def _authorize(
    account: SandboxAccount | None, permission: str, header_name: str, header: dict[str, str]
) -> SandboxAccount:
    expected_header = (
        "AuthHeader" if permission == "DebtorService.Environment_Get" else "AuthHeaderWithDomain"
    )
    if account is None or header_name != expected_header or header.get("Token") != account.token:
        raise NmbrsFault(1001)
    domain = header.get("Domain", "")
    if domain and domain != account.subdomain:
        raise NmbrsFault(2043)
    if not account.api_subscription:
        raise NmbrsFault(1004)
    if permission in account.permissions_off:
        raise NmbrsFault(1002)
    return account


def _injected(fault: InjectedFault, delay: float) -> Answer:
    if fault.kind == "soap":
        return Answer(500, _nmbrs_fault_envelope(fault.code, fault.text), delay)
    if fault.kind == "http_500":
        page = b"<html><body><h1>500 - Internal server error.</h1></body>"
        return Answer(500, page, delay, content_type="text/html")
    if fault.kind == "garbage":
        return Answer(200, b"\x00\x9fnot xml at all <<<", delay)
    return Answer(0, b"", delay, hang=True)


# -- envelopes --------------------------------------------------------------------------------

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"


def _fault_envelope(faultcode: str, faultstring: str) -> bytes:
    return (
        f"{_ENVELOPE_OPEN}<soap:Fault><faultcode>{faultcode}</faultcode>"
        f"<faultstring>{escape(faultstring)}</faultstring><detail /></soap:Fault>{_ENVELOPE_CLOSE}"
    ).encode()


def _nmbrs_fault_envelope(code: int, text: str = "") -> bytes:
    text = text or FAULT_TEXTS.get(code, "Error")
    return _fault_envelope(
        "soap:Server",
        "System.Web.Services.Protocols.SoapException: Server was unable to process request. "
        f"---> {code}: {text}",
    )


def _render(fields: Fields) -> str:
    parts = []
    for name, value in fields:
        if value is None:
            continue
        if isinstance(value, list):
            parts.append(f"<{name}>{_render(value)}</{name}>")
        elif isinstance(value, bool):
            parts.append(f"<{name}>{'true' if value else 'false'}</{name}>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    return "".join(parts)


def _response_envelope(service: str, operation: str, result: Any) -> bytes:
    content = _render([(f"{operation}Result", result)])
    return (
        f'{_ENVELOPE_OPEN}<{operation}Response xmlns="{namespace(service)}">{content}'
        f"</{operation}Response>{_ENVELOPE_CLOSE}"
    ).encode()


# -- operations -------------------------------------------------------------------------------


def _company_fields(company: SandboxCompany) -> Fields:
    return [
        ("ID", company.id),
        ("Number", company.number),
        ("Name", company.name),
        ("PhoneNumber", company.phone),
        ("FaxNumber", ""),
        ("Email", company.email),
        ("Website", ""),
        ("LoonaangifteTijdvak", "Month"),
        ("KvkNr", company.kvk_number),
    ]


def _runs(state: SandboxState, company: SandboxCompany, year: int) -> list[tuple[int, int]]:
    """(run id, period) of the company's monthly runs: this year's, up to this month."""
    today = state.today()
    if year != today.year:
        return []
    return [(company.id * 100 + period, period) for period in range(1, today.month + 1)]


def _environment(state: SandboxState, call: _Call) -> Any:
    return [("SubDomain", call.account.subdomain)]


def _debtors(state: SandboxState, call: _Call) -> Any:
    account = call.account
    number = str(account.debtor_id)
    return [
        ("Debtor", [("Id", account.debtor_id), ("Number", number), ("Name", account.debtor_name)])
    ]


def _companies(state: SandboxState, call: _Call) -> Any:
    return [("Company", _company_fields(c)) for c in call.account.companies] or None


def _company_guid(state: SandboxState, call: _Call) -> Any:
    return call.company().guid


def _company_address(state: SandboxState, call: _Call) -> Any:
    company = call.company()
    return [
        ("Id", company.id),
        ("Default", True),
        ("Street", company.street),
        ("HouseNumber", company.house_number),
        ("HouseNumberAddition", ""),
        ("PostalCode", company.postal_code),
        ("City", company.city),
        ("StateProvince", ""),
        ("CountryISOCode", "NL"),
    ]


def _current_period(state: SandboxState, call: _Call) -> Any:
    call.company()
    today = state.today()
    return f"{today.year}-{today.month:02d}-M"


def _contact_person(state: SandboxState, call: _Call) -> Any:
    company = call.company()
    return [
        ("Email", company.email),
        ("Name", company.contact_name),
        ("Phone", company.phone),
        ("Gender", ""),
        ("MobilePhone", ""),
        ("Fax", ""),
        ("Function", "Salarisadministratie"),
        ("Department", ""),
        ("Number", 1),
    ]


def _company_only(argument: str) -> Callable[[SandboxState, _Call], Any]:
    """A company-wide list that is empty in the sandbox (wage tax returns, employees, ...)."""

    def operation(state: SandboxState, call: _Call) -> Any:
        call.company(argument)
        return None

    return operation


def _run_list(state: SandboxState, call: _Call) -> Any:
    company = call.company()
    year = call.int_argument("Year")
    return [
        (
            "RunInfo",
            [
                ("ID", run_id),
                ("Number", period),
                ("Year", year),
                ("PeriodStart", period),
                ("PeriodEnd", period),
                ("Description", f"Verloning periode {period}"),
                ("RunAt", datetime(year, period, 25, 9, 0).isoformat()),
                ("IsLocked", True),
            ],
        )
        for run_id, period in _runs(state, company, year)
    ] or None


def _employee_types(state: SandboxState, call: _Call) -> Any:
    return [("EmployeeType", [("Id", id_), ("Description", text)]) for id_, text in EMPLOYEE_TYPES]


def _one_employee(state: SandboxState, call: _Call) -> Any:
    call.int_argument("EmployeeId")
    raise NmbrsFault(2003)


def _task_result(state: SandboxState, call: _Call) -> Any:
    task_id = call.arguments.get("TaskId", "")
    status, content = state.task(task_id)
    return [("TaskId", task_id), ("Status", status), ("Content", content or None)]


def _wage_components_report(state: SandboxState, call: _Call) -> Any:
    """Starts a report only for a run that exists; otherwise the task fails straight away."""
    company = call.company("companyId")
    run_id, year = call.int_argument("runId"), call.int_argument("year")
    if run_id not in {run for run, _ in _runs(state, company, year)}:
        return state.add_task("Error")
    report = StartedReport(str(uuid.uuid4()), company.id, run_id, year)
    content = f"<Report><CompanyID>{company.id}</CompanyID><EmployeesList /></Report>"
    return state.add_task("Success", content, report)


_OPERATIONS: dict[str, Callable[[SandboxState, _Call], Any]] = {
    "DebtorService.Environment_Get": _environment,
    "DebtorService.List_GetAll": _debtors,
    "CompanyService.List_GetAll": _companies,
    "CompanyService.Converter_GetByCompany_IntToGuid": _company_guid,
    "CompanyService.Address_GetCurrent": _company_address,
    "CompanyService.Company_GetCurrentPeriod": _current_period,
    "CompanyService.ContactPerson_Get": _contact_person,
    "CompanyService.WageTax_GetList": _company_only("CompanyId"),
    "CompanyService.WageTax_GetXML": _company_only("CompanyId"),
    "CompanyService.Run_GetList": _run_list,
    "EmployeeService.Address_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.Contract_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.Employment_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.EmployeeType_GetList": _employee_types,
    "EmployeeService.List_GetByCompany": _company_only("CompanyId"),
    "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.Salary_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.Schedule_Get": _one_employee,
    "EmployeeService.Schedule_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.SVW_GetAll_AllEmployeesByCompany": _company_only("CompanyID"),
    "EmployeeService.SVW_GetList": _one_employee,
    "ReportService.Reports_BackgroundTask_Result": _task_result,
    "ReportService.Reports_Accountant_Company_EmployeeWageComponentsPerRun_Background": (
        _wage_components_report
    ),
}
