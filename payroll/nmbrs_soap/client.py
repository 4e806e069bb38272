"""The Nmbrs SOAP API v3 through zeep, in its own terms (`payroll.nmbrs_soap.model`).

WSDLs come from the bundled subset in payroll/nmbrs_soap/wsdl (parsed once per process); the
service addresses come from the base URL (`NMBRS_BASE_URL`, scheme and host). Clients are shared
per base URL and timeouts; the auth header goes with each call, so concurrent customers never
share credentials.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import zeep
import zeep.exceptions
from lxml import etree
from requests.adapters import HTTPAdapter
from zeep.proxy import ServiceProxy
from zeep.wsdl import Document

from bot.core.payroll import (
    InvalidDomain,
    NoAccess,
    NoSubscription,
    PermissionsMissing,
    ProviderError,
    ProviderUnavailable,
    UnexpectedAnswer,
    WrongCredentials,
    provider_name,
)
from payroll.nmbrs_soap import redaction
from payroll.nmbrs_soap.model import (
    GUIDS_FOR_ALL_UP_TO,
    REQUIRED_PERMISSIONS,
    AccountCheck,
    Company,
    Credentials,
    Environment,
    is_hostname,
)
from payroll.nmbrs_soap.ratelimit import (
    LIMITERS_KEPT,
    MAX_CALLS_PER_SECOND,
    MAX_CONCURRENT_CALLS,
    SlidingWindowLimiter,
)

logger = logging.getLogger(__name__)
redaction.install()

SERVICES = ("DebtorService", "CompanyService", "EmployeeService", "ReportService")
WSDL_DIR = Path(__file__).with_name("wsdl")

# The largest answer read. A real one is far smaller: the list of 5,000 companies is 1.2 MB (the
# sandbox's); a permission probe may list every employee of a company, but its answer is not
# needed (an answer too large to read is no fault, so the permission is on).
MAX_ANSWER_BYTES = 8 * 2**20
_READ_CHUNK_BYTES = 64 * 2**10
_MAX_INT = 2**31 - 1  # an xs:int, as company ids and numbers are

ENVIRONMENT_GET = "DebtorService.Environment_Get"
LIST_COMPANIES = "CompanyService.List_GetAll"
COMPANY_GUID = "CompanyService.Converter_GetByCompany_IntToGuid"

# Probe arguments that cannot match anything real, so a probe never reads an employee's data or
# starts a real background report.
NO_SUCH_ID = 0
NO_SUCH_YEAR = 1900
NO_SUCH_TASK = "00000000-0000-0000-0000-000000000000"

_FAULT_CODE = re.compile(r"--->\s*(\d{4})\s*:\s*([^\r\n]*)")
_LONGEST_FAULT_TEXT = 200


def namespace(service: str) -> str:
    return f"https://api.nmbrs.nl/soap/v3/{service}"


def normalize_base_url(base_url: str) -> str:
    """`scheme://host[:port]` without a trailing slash; anything else is a clear ValueError."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "the Nmbrs base URL must be scheme and host, e.g. https://api.nmbrs.nl; "
            f"got {base_url!r}"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(
            "the Nmbrs base URL must be scheme and host only (the client appends "
            f"/soap/v3/<Service>.asmx); got {base_url!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def service_url(base_url: str, service: str) -> str:
    return f"{normalize_base_url(base_url)}/soap/v3/{service}.asmx"


class AnswerTooLarge(UnexpectedAnswer):
    """A normal (HTTP 200) answer beyond MAX_ANSWER_BYTES: data, not a fault, and not read."""


class _NmbrsTransport(zeep.Transport):
    """Turns what cannot be a SOAP answer (timeout, refused connection, an HTTP status other than
    200 or a fault's 500, a body larger than MAX_ANSWER_BYTES or not XML) into
    ProviderUnavailable before zeep reads it. The body is read as a stream and given up at the
    cap, whether or not the answer declares its length.

    Logs operation, HTTP status and size at DEBUG, never a SOAP body: requests carry the token
    and answers personal data (a permission probe of PersonalInfo_GetAll_AllEmployeesByCompany
    returns every employee of the first company)."""

    _xml_parser = etree.XMLParser(resolve_entities=False, no_network=True)

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        operation = _operation(address, headers)
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("SOAP %s: sending %d bytes", operation, len(message or b""))
        try:
            response = self.session.post(
                address, data=message, headers=headers, timeout=self.operation_timeout, stream=True
            )
            with response:
                if response.status_code not in (200, 500):
                    raise ProviderUnavailable(
                        f"Nmbrs answered HTTP {response.status_code} ({address})"
                    )
                response._content = _capped_body(response, address)
        except requests.Timeout:
            raise ProviderUnavailable(f"Nmbrs did not answer in time ({address})") from None
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                f"Nmbrs could not be reached ({address}: {type(exc).__name__})"
            ) from None
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "SOAP %s: HTTP %d, %d bytes",
                operation,
                response.status_code,
                len(response.content),
            )
        try:
            etree.fromstring(response.content, self._xml_parser)
        except etree.XMLSyntaxError:
            raise ProviderUnavailable(
                f"Nmbrs sent an answer that is not XML (HTTP {response.status_code}, {address})"
            ) from None
        return response


def _capped_body(response: requests.Response, address: str) -> bytes:
    """The body, read in chunks (decompressed, if it came compressed) and given up as soon as
    it is known to exceed MAX_ANSWER_BYTES."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _too_large(response, address)
    body = bytearray()
    for chunk in response.iter_content(_READ_CHUNK_BYTES):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise _too_large(response, address)
    return bytes(body)


def _too_large(response: requests.Response, address: str) -> UnexpectedAnswer:
    error = AnswerTooLarge if response.status_code == 200 else UnexpectedAnswer
    return error(f"Nmbrs sent an answer over {MAX_ANSWER_BYTES // 2**20} MiB ({address})")


def _operation(address: str, headers: dict[str, str]) -> str:
    """`Service.Operation` of a call, from its address and SOAPAction header."""
    service = urlsplit(address).path.rsplit("/", 1)[-1].removesuffix(".asmx")
    action = str(headers.get("SOAPAction", "")).strip('"').rsplit("/", 1)[-1]
    return f"{service}.{action}"


# Lenient reading: an answer with elements our WSDL subset does not know, in any position, still
# reads (well-formedness is checked by the transport first).
_SETTINGS = zeep.Settings(strict=False, xsd_ignore_sequence_order=True, forbid_external=True)

_lock = threading.Lock()
_documents: dict[str, Document] = {}
_services: dict[tuple[str, float, float], dict[str, ServiceProxy]] = {}


def _document(service: str) -> Document:
    if service not in _documents:
        _documents[service] = Document(
            str(WSDL_DIR / f"{service}.wsdl"), zeep.Transport(), settings=_SETTINGS
        )
    return _documents[service]


def shared_services(
    base_url: str, connect_timeout: float, read_timeout: float
) -> dict[str, ServiceProxy]:
    """One zeep ServiceProxy per service, built once per process for these URL and timeouts."""
    key = (normalize_base_url(base_url), connect_timeout, read_timeout)
    with _lock:
        if key not in _services:
            session = requests.Session()
            adapter = HTTPAdapter(pool_maxsize=MAX_CONCURRENT_CALLS)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            transport = _NmbrsTransport(
                session=session, operation_timeout=(connect_timeout, read_timeout)
            )
            proxies = {}
            for service in SERVICES:
                client = zeep.Client(_document(service), transport=transport, settings=_SETTINGS)
                proxies[service] = client.create_service(
                    f"{{{namespace(service)}}}{service}Soap", service_url(key[0], service)
                )
            _services[key] = proxies
        return _services[key]


def fault_error(permission: str, message: str | None) -> ProviderError:
    """The typed error for a SOAP fault whose message carries `---> NNNN: text`."""
    match = _FAULT_CODE.search(message or "")
    if match is None:
        return ProviderUnavailable(f"{permission}: Nmbrs failed without an error code")
    code = int(match[1])
    text = redaction.redact(match[2].strip())[:_LONGEST_FAULT_TEXT]
    detail = f"{permission}: Nmbrs fault {code}: {text}"
    if code == 1002:
        return PermissionsMissing([permission])
    error_class: type[ProviderError] = {
        1001: WrongCredentials,
        1003: NoAccess,
        1004: NoSubscription,
        2003: NoAccess,
        2004: NoAccess,
        2009: NoAccess,
        2043: InvalidDomain,
        9999: ProviderUnavailable,
    }.get(code, ProviderError)
    return error_class(detail)


def probe_arguments(company_id: int, year: int) -> dict[str, dict[str, Any]]:
    """For each required permission, harmless arguments for one real call of it (nmbrs-v3.md)."""
    company = {"CompanyId": company_id}
    employees_of_company = {"CompanyID": company_id}
    return {
        "CompanyService.Address_GetCurrent": company,
        "CompanyService.Company_GetCurrentPeriod": company,
        "CompanyService.ContactPerson_Get": company,
        "CompanyService.Converter_GetByCompany_IntToGuid": company,
        "CompanyService.List_GetAll": {},
        "CompanyService.WageTax_GetList": {"CompanyId": company_id, "intYear": year},
        "CompanyService.WageTax_GetXML": {"LoonaangifteID": NO_SUCH_ID, "CompanyId": company_id},
        "CompanyService.Run_GetList": {"CompanyId": company_id, "Year": year},
        "DebtorService.Environment_Get": {},
        "EmployeeService.Address_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.Contract_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.Employment_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.EmployeeType_GetList": {},
        "EmployeeService.List_GetByCompany": {"CompanyId": company_id, "active": "active"},
        "EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.Salary_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.Schedule_Get": {"EmployeeId": NO_SUCH_ID, "Period": 1, "Year": year},
        "EmployeeService.Schedule_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.SVW_GetAll_AllEmployeesByCompany": employees_of_company,
        "EmployeeService.SVW_GetList": {"EmployeeId": NO_SUCH_ID},
        "ReportService.Reports_BackgroundTask_Result": {"TaskId": NO_SUCH_TASK},
        "ReportService.Reports_Accountant_Company_EmployeeWageComponentsPerRun_Background": {
            "companyId": company_id,
            "runId": NO_SUCH_ID,
            "year": NO_SUCH_YEAR,
        },
    }


# Probes that need no company id, so they can run while the company list is still on its way.
PROBES_WITHOUT_COMPANY = frozenset(
    {
        "EmployeeService.EmployeeType_GetList",
        "EmployeeService.Schedule_Get",
        "EmployeeService.SVW_GetList",
        "ReportService.Reports_BackgroundTask_Result",
    }
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SoapNmbrsClient:
    """The calls of Nmbrs SOAP v3 the link needs, each with its own auth header, limited per
    account and run concurrently where they can. Blocking; safe to share between threads.
    Raises the core's `ProviderError`s."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_calls_per_second: int = MAX_CALLS_PER_SECOND,
        max_concurrent_calls: int = MAX_CONCURRENT_CALLS,
        clock: Callable[[], float] | None = None,
    ):
        self.base_url = normalize_base_url(base_url)
        self._services = shared_services(self.base_url, connect_timeout, read_timeout)
        self._max_calls_per_second = max_calls_per_second
        self._clock = clock  # the limiters' (monotonic seconds)
        self._limiters: dict[str, SlidingWindowLimiter] = {}
        self._limiters_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_concurrent_calls, thread_name_prefix="nmbrs-call")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- the API ------------------------------------------------------------------------------

    def check_credentials(self, credentials: Credentials) -> Environment:
        """Raises WrongCredentials, NoSubscription, ProviderUnavailable, or PermissionsMissing
        when the environment call itself is switched off."""
        result = self._call(credentials, ENVIRONMENT_GET, domain=None)
        # zeep unwraps a result type with a single element to that element's value.
        subdomain = result if isinstance(result, str) else getattr(result, "SubDomain", None)
        domain = (subdomain or "").strip()
        if domain and not is_hostname(domain):
            raise UnexpectedAnswer(
                f"{ENVIRONMENT_GET}: Nmbrs sent a subdomain that is no host name "
                f"({len(domain)} characters)"
            )
        return Environment(domain=domain)

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
        companies = self._list_companies(credentials, environment)
        wanted = [c.id for c in companies if with_guids_for is None or c.id in with_guids_for]
        guids = self.company_guids(credentials, environment, wanted)
        return [replace(company, guid=guids.get(company.id)) for company in companies]

    def check_permissions(
        self, credentials: Credentials, environment: Environment, *, company_id: int | None
    ) -> list[str]:
        """Names (`Service.Operation`) of the required permissions that are switched off."""
        arguments = probe_arguments(
            NO_SUCH_ID if company_id is None else company_id, date.today().year
        )
        switched_on = self._gather(
            {
                permission: partial(self._probe, credentials, environment, permission, arguments)
                for permission in REQUIRED_PERMISSIONS
            }
        )
        return [permission for permission in REQUIRED_PERMISSIONS if not switched_on[permission]]

    def company_guids(
        self, credentials: Credentials, environment: Environment, company_ids: Iterable[int]
    ) -> dict[int, str]:
        """The GUID of each company id given (one call per company)."""
        return self._gather(
            {
                company_id: partial(self._company_guid, credentials, environment, company_id)
                for company_id in dict.fromkeys(company_ids)
            }
        )

    def check_account(
        self, credentials: Credentials, *, with_guids_for: set[int] | None = None
    ) -> AccountCheck:
        """The whole credentials check: environment, companies and missing permissions. GUIDs
        are looked up for the ids in `with_guids_for`; when None, for every company if there are
        at most GUIDS_FOR_ALL_UP_TO of them, else for none. Missing permissions are reported in
        the result, not raised; raises WrongCredentials, NoSubscription, NoAccess, InvalidDomain
        or ProviderUnavailable.

        Three round trips: the environment; the company list with the probes that need no
        company; the probes that need one with the GUIDs. A call that succeeds in an earlier
        round trip is its own probe."""
        missing: set[str] = set()
        try:
            environment = self.check_credentials(credentials)
        except PermissionsMissing as switched_off:
            missing.update(switched_off.missing)
            environment = Environment(domain="")

        year = date.today().year
        arguments = probe_arguments(NO_SUCH_ID, year)
        second: dict[str, Callable[[], Any]] = {
            LIST_COMPANIES: partial(self._list_companies_unless_off, credentials, environment)
        }
        for permission in PROBES_WITHOUT_COMPANY:
            second[permission] = partial(
                self._probe, credentials, environment, permission, arguments
            )
        results = self._gather(second)
        companies: list[Company] | None = results.pop(LIST_COMPANIES)
        if companies is None:
            missing.add(LIST_COMPANIES)
            companies = []
        missing.update(permission for permission, on in results.items() if not on)

        arguments = probe_arguments(companies[0].id if companies else NO_SUCH_ID, year)
        third: dict[Hashable, Callable[[], Any]] = {
            permission: partial(self._probe, credentials, environment, permission, arguments)
            for permission in REQUIRED_PERMISSIONS
            if permission not in PROBES_WITHOUT_COMPANY | {ENVIRONMENT_GET, LIST_COMPANIES}
        }
        for company_id in self._guid_ids(companies, with_guids_for):
            third[(COMPANY_GUID, company_id)] = partial(
                self._company_guid_unless_off, credentials, environment, company_id
            )
        results = self._gather(third)
        missing.update(key for key, on in results.items() if isinstance(key, str) and not on)
        guids = {key[1]: guid for key, guid in results.items() if isinstance(key, tuple)}

        return AccountCheck(
            environment=environment,
            companies=[replace(company, guid=guids.get(company.id)) for company in companies],
            missing_permissions=[p for p in REQUIRED_PERMISSIONS if p in missing],
        )

    # -- calls --------------------------------------------------------------------------------

    def _call(
        self, credentials: Credentials, permission: str, *, domain: str | None, **arguments: Any
    ) -> Any:
        """One SOAP call with its own auth header: `AuthHeader` when `domain` is None."""
        service, operation = permission.split(".")
        auth = {"Username": credentials.username, "Token": credentials.token}
        headers = (
            {"AuthHeader": auth}
            if domain is None
            else {"AuthHeaderWithDomain": {**auth, "Domain": domain}}
        )
        self._limiter(credentials.username).acquire()
        with redaction.secret(credentials.token):
            try:
                return self._services[service][operation](_soapheaders=headers, **arguments)
            except zeep.exceptions.Fault as fault:
                raise fault_error(permission, fault.message) from None
            except zeep.exceptions.Error as unreadable:
                logger.debug("%s: answer does not fit the WSDL: %s", permission, unreadable)
                raise ProviderUnavailable(
                    f"{permission}: Nmbrs sent an answer that does not fit the SOAP v3 protocol"
                ) from None

    def _list_companies(self, credentials: Credentials, environment: Environment) -> list[Company]:
        result = self._call(credentials, LIST_COMPANIES, domain=environment.domain)
        return [_company(item) for item in _items(result, "Company")]

    def _list_companies_unless_off(
        self, credentials: Credentials, environment: Environment
    ) -> list[Company] | None:
        try:
            return self._list_companies(credentials, environment)
        except PermissionsMissing:
            return None

    def _company_guid(
        self, credentials: Credentials, environment: Environment, company_id: int
    ) -> str:
        guid = self._call(
            credentials, COMPANY_GUID, domain=environment.domain, CompanyId=company_id
        )
        try:
            return str(uuid.UUID(str(guid)))
        except ValueError:
            raise UnexpectedAnswer(f"{COMPANY_GUID}: Nmbrs sent a GUID that is none") from None

    def _company_guid_unless_off(
        self, credentials: Credentials, environment: Environment, company_id: int
    ) -> str | None:
        try:
            return self._company_guid(credentials, environment, company_id)
        except PermissionsMissing:
            return None

    def _probe(
        self,
        credentials: Credentials,
        environment: Environment,
        permission: str,
        arguments: Mapping[str, Mapping[str, Any]],
    ) -> bool:
        """Whether `permission` is switched on: only fault 1002 means off; a normal answer or a
        data fault (no access, not found, ...) means on. Credential, subscription, domain and
        availability errors are raised."""
        domain = None if permission == ENVIRONMENT_GET else environment.domain
        try:
            self._call(credentials, permission, domain=domain, **arguments[permission])
        except PermissionsMissing:
            return False
        except (NoAccess, AnswerTooLarge):
            return True
        except ProviderError as error:
            if type(error) is ProviderError:  # a data fault with a code of its own
                return True
            raise
        return True

    # -- plumbing -----------------------------------------------------------------------------

    def _limiter(self, username: str) -> SlidingWindowLimiter:
        """The account's limiter; past LIMITERS_KEPT accounts the idle ones are forgotten."""
        with self._limiters_lock:
            if username not in self._limiters:
                if len(self._limiters) >= LIMITERS_KEPT:
                    for idle in [name for name, kept in self._limiters.items() if kept.idle()]:
                        del self._limiters[idle]
                self._limiters[username] = SlidingWindowLimiter(
                    self._max_calls_per_second, clock=self._clock
                )
            return self._limiters[username]

    @property
    def accounts_limited(self) -> int:
        """How many accounts' limiters are kept."""
        with self._limiters_lock:
            return len(self._limiters)

    def _gather(self, calls: Mapping[K, Callable[[], V]]) -> dict[K, V]:
        """Run the calls on the pool; the first failure cancels what has not started yet."""
        futures = {key: self._pool.submit(call) for key, call in calls.items()}
        _, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
        if pending:
            for future in pending:
                future.cancel()
            wait(pending)
        for future in futures.values():
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return {key: future.result() for key, future in futures.items()}

    @staticmethod
    def _guid_ids(companies: list[Company], with_guids_for: set[int] | None) -> list[int]:
        if with_guids_for is None:
            return [c.id for c in companies] if len(companies) <= GUIDS_FOR_ALL_UP_TO else []
        return [c.id for c in companies if c.id in with_guids_for]


def _company(item: Any) -> Company:
    """A company of the list, its name on one line; UnexpectedAnswer when it is out of shape."""
    name = provider_name(item.Name, f"{LIST_COMPANIES}: Nmbrs sent a company name")
    if not all(
        isinstance(value, int) and 0 <= value <= _MAX_INT for value in (item.ID, item.Number)
    ):
        raise UnexpectedAnswer(f"{LIST_COMPANIES}: Nmbrs sent a company without a valid id")
    return Company(id=item.ID, number=item.Number, name=name)


def _items(result: Any, element: str) -> list[Any]:
    """The items of an `ArrayOf<element>` result; Nmbrs sends an empty list as nothing."""
    if result is None:
        return []
    items = getattr(result, element, result)
    return [item for item in (items or []) if item is not None]
