"""What the Nmbrs REST API speaks of: scopes and the data they cover, a grant (access and refresh
token with the scopes granted), debtors and companies with their UUIDs.

The bot sees none of it: `payroll.nmbrs_rest.provider` translates to the core's port.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

OFFLINE_ACCESS = "offline_access"
COMPANY_INFO = "company.info.read"
USER_INFO = "user.info.read"

# The scopes a link needs, in the order they are explained, each with the data it covers as keys
# the bot's catalogues word for the customer (spec §2.3 and §3.1: the REST calls standing in for
# the 22 SOAP permissions). Read scopes only: the AVG asks no more than the link reads.
DATA_BY_SCOPE: dict[str, tuple[str, ...]] = {
    OFFLINE_ACCESS: ("lasting_access",),
    COMPANY_INFO: ("companies", "company_addresses", "contact_persons", "payroll_periods"),
    "company.payrollsettings.read": ("payroll_runs", "wage_tax_returns"),
    "company.document.read": ("wage_tax_files", "wage_components_per_run"),
    "document.read": ("document_contents",),
    "employee.info.read": ("employees", "personal_details", "employee_addresses"),
    "employee.employment.read": ("contracts", "employments", "salaries", "schedules"),
    "employee.payrollsettings.read": ("social_insurance_settings",),
}
REQUIRED_SCOPES: tuple[str, ...] = tuple(DATA_BY_SCOPE)
# Everything those scopes let a link read, in the order explained.
DATA_READ: tuple[str, ...] = tuple(key for keys in DATA_BY_SCOPE.values() for key in keys)

# Never asked: Nmbrs refuses `openid` for partner apps (spec §2.3).
REFUSED_SCOPES = frozenset({"openid"})

_READ = ".read"


def covers(granted: Iterable[str], scope: str) -> bool:
    """Whether the granted scopes include `scope`; a write scope covers its `.read` twin."""
    granted = set(granted)
    return scope in granted or (scope.endswith(_READ) and scope.removesuffix(_READ) in granted)


def missing_scopes(granted: Iterable[str], required: Iterable[str] = REQUIRED_SCOPES) -> list[str]:
    """The required scopes the grant does not cover, in the order required."""
    granted = set(granted)
    return [scope for scope in required if not covers(granted, scope)]


def describe(scopes: Iterable[str]) -> dict[str, list[str]]:
    """{scope: [data, ...]} for the scopes given, in the order given; a scope this module does
    not know is described by itself."""
    return {scope: list(DATA_BY_SCOPE.get(scope, (scope,))) for scope in scopes}


@dataclass(frozen=True)
class Grant:
    """What a consent gives: a bearer access token until `expires_at` (epoch seconds), a single-use
    refresh token (empty when `offline_access` was not granted) and the scopes granted. Tokens
    never appear in repr or str; `to_secret` is what storage keeps, encrypted."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...]

    def __str__(self) -> str:
        return f"Grant(expires_at={self.expires_at}, scopes={' '.join(self.scopes)!r})"

    def expires_within(self, seconds: float, *, now: float) -> bool:
        return self.expires_at - now <= seconds

    def to_secret(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "scopes": list(self.scopes),
            }
        )

    @classmethod
    def from_secret(cls, secret: str) -> Grant:
        """The grant `to_secret` wrote; ValueError (without the secret) for anything else."""
        try:
            data = json.loads(secret)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=str(data["refresh_token"]),
                expires_at=float(data["expires_at"]),
                scopes=tuple(str(scope) for scope in data["scopes"]),
            )
        except (ValueError, KeyError, TypeError):
            raise ValueError("not an Nmbrs REST grant") from None


@dataclass(frozen=True)
class Debtor:
    debtor_id: str
    number: str
    name: str


@dataclass(frozen=True)
class Company:
    company_id: str
    number: str
    name: str
    debtor_id: str


@dataclass(frozen=True)
class User:
    """The Nmbrs login that approved (`/api/user/info`, only with `user.info.read`)."""

    name: str
    email: str


@dataclass(frozen=True)
class ConnectCheck:
    """Everything the connect step reads after a consent: the debtors, every company the login
    can see (all debtors, all pages), the login when `user.info.read` was granted, and the
    required scopes not granted."""

    debtors: list[Debtor]
    companies: list[Company]
    user: User | None
    missing_scopes: list[str]
