"""What the fake Nmbrs knows: the partner app, the logins with their debtors and companies, the
codes and tokens it handed out, faults and latency on demand, and the calls it received.

Everything here may change while the sandbox runs; the server reads it on every request under
one lock. Time is `time.time()` plus `offset`, so tests can let codes and tokens expire.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from payroll.nmbrs_rest.model import REQUIRED_SCOPES, USER_INFO
from payroll.sandbox_names import business_name

CODE_LIFETIME = 5 * 60
ACCESS_LIFETIME = 60 * 60
REFRESH_LIFETIME = 30 * 24 * 60 * 60

DEMO_CLIENT_ID = "PartnerApp_OnboardBot_demo"
# Nmbrs' secrets hold characters such as * and $ (spec §2.2).
DEMO_CLIENT_SECRET = "demo*secret$4f9c2e7a1b"
DEMO_SUBSCRIPTION_KEY = "0d4c9b7e5a3f41e8b2c6d9a0e7f31b58"

# What partner apps are reportedly enabled for (spec §2.3), plus user.info.read.
ENABLED_SCOPES = frozenset(REQUIRED_SCOPES) | {
    USER_INFO,
    "company.info",
    "employee.info",
    "employee.employment",
    "employee.payment",
    "employee.payment.read",
    "company.leave.read",
}

# What the API answers for (the operations faults are keyed by), and "*" for every one of them.
OPERATIONS = frozenset(
    {"token", "revocation", "user_info", "debtors", "companies", "debtor_companies"}
)
EVERY_OPERATION = "*"


@dataclass(frozen=True)
class InjectedFault:
    """What a call answers instead: `api` an Nmbrs error body (`code`, with Retry-After when
    given), `html` an HTML error page with `status`, `garbage` HTTP 200 that is not JSON, `hang`
    no answer at all. `times` limits how often (None: until healed)."""

    kind: Literal["api", "html", "garbage", "hang"]
    code: int = 0
    status: int = 0
    retry_after: int | None = None
    times: int | None = None


# code: (HTTP status, type, title) as spec §4 lists them.
API_ERRORS: dict[int, tuple[int, str, str]] = {
    40033: (400, "validationError", "Parameter_Invalid"),
    40101: (401, "authenticationError", "Missing_Token"),
    40102: (401, "authenticationError", "Invalid_Token"),
    40303: (403, "authenticationError", "Unauthorized_AccessData"),
    40304: (403, "authenticationError", "Invalid_Subscription"),
    40306: (403, "authenticationError", "Multiple_Debtors"),
    40401: (404, "invalidRequestError", "Not_Found"),
    42908: (429, "throttlingError", "Too_Many_Calls"),
    42909: (429, "throttlingError", "Quota_Exceeded"),
    50001: (500, "apiError", "Internal_Error"),
}


def api_error(
    code: int, *, times: int | None = None, retry_after: int | None = None
) -> InjectedFault:
    if code not in API_ERRORS:
        raise ValueError(f"unknown Nmbrs error code {code}; known: {sorted(API_ERRORS)}")
    return InjectedFault("api", code=code, retry_after=retry_after, times=times)


def html_error(status: int = 503, *, times: int | None = None) -> InjectedFault:
    return InjectedFault("html", status=status, times=times)


GARBAGE = InjectedFault("garbage")
HANG = InjectedFault("hang")


@dataclass(frozen=True)
class SandboxCompany:
    company_id: str
    number: str
    name: str


@dataclass
class SandboxDebtor:
    debtor_id: str
    number: str
    name: str
    companies: list[SandboxCompany] = field(default_factory=list)


@dataclass
class SandboxLogin:
    """One Nmbrs login as the consent picker shows it: a klant login under one or more debtors
    (with the companies its filter lets it see), or an accountant's master login, which may not
    consent. `unticks` are the scopes this login leaves out of its consent."""

    email: str
    name: str
    description: str
    debtors: list[SandboxDebtor] = field(default_factory=list)
    unticks: frozenset[str] = frozenset()
    master: bool = False
    api_subscription: bool = True
    user_id: str = ""

    def __post_init__(self) -> None:
        if not self.user_id:
            self.user_id = str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"nmbrs-rest-sandbox:user:{self.email}")
            )

    def debtor(self, debtor_id: str) -> SandboxDebtor | None:
        return next((d for d in self.debtors if d.debtor_id == debtor_id), None)


@dataclass
class SandboxApp:
    """The partner app registered in the developer portal."""

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = field(default=DEMO_CLIENT_SECRET, repr=False)
    subscription_key: str = field(default=DEMO_SUBSCRIPTION_KEY, repr=False)
    redirect_uris: list[str] = field(default_factory=list)
    enabled_scopes: frozenset[str] = ENABLED_SCOPES


@dataclass(frozen=True)
class PendingAuthorization:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str | None


@dataclass
class IssuedCode:
    login: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    expires_at: float
    family: str
    used: bool = False


@dataclass
class IssuedToken:
    """An access or refresh token of one grant family (a consent and its refreshes)."""

    login: str
    scopes: tuple[str, ...]
    expires_at: float
    family: str
    used: bool = False


@dataclass(frozen=True)
class RecordedCall:
    """A call the sandbox received: never a token, code, key or secret."""

    operation: str
    path: str
    query: str  # pageNumber and pageSize of a list
    at: float  # time.monotonic() when it came in
    answered: float | None = None  # and when its answer had gone out


def company_guid(soap_id: int) -> str:
    """The GUID the SOAP sandbox's converter gives company `soap_id`; Nmbrs' REST companyId is
    that GUID (spec §5, unconfirmed), so moving a SOAP link can match on it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nmbrs-sandbox:company:{soap_id}"))


def _debtor_id(number: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nmbrs-rest-sandbox:debtor:{number}"))


DEMO_COMPANIES = (
    (48201, "Bakkerij De Gouden Korst B.V."),
    (48202, "Fietsenmakerij Van Dijk"),
    (48203, "Tuincentrum Het Groene Hart B.V."),
    (48204, "Koffiebranderij Brouwer & Zonen B.V."),
    (48205, "Installatiebedrijf Jansen Techniek B.V."),
)


def demo_companies() -> list[SandboxCompany]:
    """The SOAP sandbox's five demo companies, by the GUIDs its converter gives them."""
    return [
        SandboxCompany(company_guid(soap_id), str(number), name)
        for number, (soap_id, name) in enumerate(DEMO_COMPANIES, start=1)
    ]


def many_companies(count: int, *, first_number: int = 1) -> list[SandboxCompany]:
    """`count` companies numbered from `first_number` with Dutch business names ("Bakkerij
    Jansen Amsterdam B.V.", payroll.sandbox_names): the SOAP sandbox's names for its numbers."""
    return [
        SandboxCompany(
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"nmbrs-rest-sandbox:company:{n}")),
            str(n),
            business_name(n - 1),
        )
        for n in range(first_number, first_number + count)
    ]


def debtor(number: str, name: str, companies: Iterable[SandboxCompany] = ()) -> SandboxDebtor:
    return SandboxDebtor(_debtor_id(number), number, name, list(companies))


FINE_LOGIN = "demo@voorbeeld.nl"
NARROW_LOGIN = "beperkt@voorbeeld.nl"
TWO_DEBTORS_LOGIN = "twee@voorbeeld.nl"
NO_COMPANIES_LOGIN = "leeg@voorbeeld.nl"
MANY_COMPANIES_LOGIN = "groot@voorbeeld.nl"
MASTER_LOGIN = "accountant@voorbeeld.nl"

NARROW_UNTICKS = frozenset({"employee.employment.read", "company.document.read"})
MANY_COMPANIES = 5000


def demo_logins() -> list[SandboxLogin]:
    """A login per case: fine; narrower scopes; two debtors; no companies; 5,000 companies; an
    accountant's master login."""
    companies = demo_companies()
    return [
        SandboxLogin(
            FINE_LOGIN,
            "Anouk de Vries",
            "klant login, 5 companies, approves everything",
            [debtor("1001", "Voorbeeld Administratie", companies)],
        ),
        SandboxLogin(
            NARROW_LOGIN,
            "Sander van Dijk",
            "klant login that leaves contracts and documents out of its consent",
            [debtor("1001", "Voorbeeld Administratie", companies[:3])],
            unticks=NARROW_UNTICKS,
        ),
        SandboxLogin(
            TWO_DEBTORS_LOGIN,
            "Fatima el Amrani",
            "klant logins under two debtors, consents for both",
            [
                debtor("1001", "Voorbeeld Administratie", companies[:3]),
                debtor("1002", "Brouwer Holding", companies[3:]),
            ],
        ),
        SandboxLogin(
            NO_COMPANIES_LOGIN,
            "Joost Brouwer",
            "klant login without a company filter: sees no companies",
            [debtor("1001", "Voorbeeld Administratie")],
        ),
        SandboxLogin(
            MANY_COMPANIES_LOGIN,
            "Mireille Jansen",
            "klant login that sees 5,000 companies",
            [debtor("2001", "Groot Administratiekantoor", many_companies(MANY_COMPANIES))],
        ),
        SandboxLogin(
            MASTER_LOGIN,
            "Kantoor Accountants",
            "an accountant's master login: Nmbrs refuses it",
            master=True,
        ),
    ]


class SandboxState:
    """The sandbox's world; take `lock` around reads and changes that must agree."""

    def __init__(self, logins: Iterable[SandboxLogin], app: SandboxApp, *, latency: float = 0.0):
        self.lock = threading.RLock()
        self.app = app
        self.logins: dict[str, SandboxLogin] = {}
        self.reset(logins)
        self.latency = latency
        self.offset = 0.0
        self.faults: dict[str, InjectedFault] = {}
        self._fault_uses: dict[str, int] = {}
        self.calls: list[RecordedCall] = []

    def reset(self, logins: Iterable[SandboxLogin]) -> None:
        with self.lock:
            self.logins = {login.email: login for login in logins}
            self.pending: dict[str, PendingAuthorization] = {}
            self.codes: dict[str, IssuedCode] = {}
            self.access_tokens: dict[str, IssuedToken] = {}
            self.refresh_tokens: dict[str, IssuedToken] = {}
            self.dead_families: set[str] = set()

    def now(self) -> float:
        return time.time() + self.offset

    # -- faults ---------------------------------------------------------------------------------

    def fail(self, fault: InjectedFault, operation: str = EVERY_OPERATION) -> None:
        if operation != EVERY_OPERATION and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        with self.lock:
            self.faults[operation] = fault
            self._fault_uses[operation] = 0

    def heal(self) -> None:
        with self.lock:
            self.faults.clear()
            self._fault_uses.clear()

    def take_fault(self, operation: str) -> InjectedFault | None:
        """The fault this call answers with, counted against its `times`."""
        with self.lock:
            for key in (operation, EVERY_OPERATION):
                fault = self.faults.get(key)
                if fault is None:
                    continue
                if fault.times is not None and self._fault_uses[key] >= fault.times:
                    continue
                self._fault_uses[key] += 1
                return fault
            return None

    # -- calls ----------------------------------------------------------------------------------

    def record(self, operation: str, path: str, query: str) -> RecordedCall:
        call = RecordedCall(operation, path, query, time.monotonic())
        with self.lock:
            self.calls.append(call)
        return call

    def answered(self, call: RecordedCall) -> None:
        with self.lock:
            for index in range(len(self.calls) - 1, -1, -1):
                if self.calls[index] is call:
                    self.calls[index] = replace(call, answered=time.monotonic())
                    return

    # -- grants ---------------------------------------------------------------------------------

    def issue_code(self, pending: PendingAuthorization, login: str, scopes: tuple[str, ...]) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = IssuedCode(
                login=login,
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                scopes=scopes,
                code_challenge=pending.code_challenge,
                expires_at=self.now() + CODE_LIFETIME,
                family=secrets.token_hex(8),
            )
        return code

    def issue_tokens(self, login: str, scopes: tuple[str, ...], family: str) -> dict[str, object]:
        """A token answer for the family: an access token and, with offline_access, a refresh
        token."""
        access = secrets.token_urlsafe(32)
        now = self.now()
        answer: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_LIFETIME,
            "scope": " ".join(scopes),
        }
        with self.lock:
            self.access_tokens[access] = IssuedToken(login, scopes, now + ACCESS_LIFETIME, family)
            if "offline_access" in scopes:
                refresh = secrets.token_urlsafe(32)
                self.refresh_tokens[refresh] = IssuedToken(
                    login, scopes, now + REFRESH_LIFETIME, family
                )
                answer["refresh_token"] = refresh
        return answer

    def kill_family(self, family: str) -> None:
        with self.lock:
            self.dead_families.add(family)

    def live_access(self, token: str) -> IssuedToken | None:
        with self.lock:
            issued = self.access_tokens.get(token)
            if issued is None or issued.family in self.dead_families:
                return None
            return issued if issued.expires_at > self.now() else None
