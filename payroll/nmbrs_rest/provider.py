"""Nmbrs REST as the bot's payroll provider (`bot.core.payroll.PayrollProvider`), with the
consent steps beside the port's calls.

A connection's secret is the grant (`Grant.to_secret`: access token, refresh token, expiry and
the scopes granted), its account the Nmbrs login that approved (or the debtors, when the grant
may not read the user), its environment the debtor ids the consent spans. A company's ref and
GUID are both its REST `companyId`. The required access is the read scopes of the link,
described by the data they cover.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from bot.core.payroll import (
    NMBRS_REST,
    AccountCheck,
    AuthorizationStart,
    Connection,
    Consent,
    ProviderCompany,
    ProviderUnavailable,
    WrongCredentials,
)
from payroll.nmbrs_rest.client import DEFAULT_REST_URL, MAX_CONCURRENT_CALLS, RestNmbrsClient
from payroll.nmbrs_rest.identity import DEFAULT_IDENTITY_URL, NmbrsIdentity
from payroll.nmbrs_rest.model import (
    DATA_READ,
    REQUIRED_SCOPES,
    USER_INFO,
    Company,
    ConnectCheck,
    Debtor,
    Grant,
    describe,
)


class RestNmbrsProvider:
    """Blocking; safe to share between threads. `close()` when done."""

    name = NMBRS_REST
    required_access = REQUIRED_SCOPES
    data_read = DATA_READ

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        subscription_key: str,
        rest_url: str = DEFAULT_REST_URL,
        identity_url: str = DEFAULT_IDENTITY_URL,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_concurrent_calls: int = MAX_CONCURRENT_CALLS,
        ask_user_info: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        # `user.info.read` names the approving login; whether Nmbrs enables it for our client
        # is open (spec §7.2), and asking a scope it has not enabled stops the consent on an
        # "Invalid scope" page. Without it the debtors name the connection.
        self.identity = NmbrsIdentity(
            client_id,
            client_secret,
            identity_url=identity_url,
            scopes=REQUIRED_SCOPES + ((USER_INFO,) if ask_user_info else ()),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            clock=clock,
        )
        self.client = RestNmbrsClient(
            subscription_key,
            rest_url=rest_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_concurrent_calls=max_concurrent_calls,
            sleep=sleep,
        )

    def close(self) -> None:
        self.client.close()

    def describe_access(self, access: Iterable[str]) -> dict[str, list[str]]:
        """{scope: [data, ...]}: what each scope lets the link read, as catalogue keys."""
        return describe(access)

    # -- consent ------------------------------------------------------------------------------

    def authorization_start(self, *, redirect_uri: str, state: str) -> AuthorizationStart:
        request = self.identity.authorization_request(redirect_uri=redirect_uri, state=state)
        return AuthorizationStart(url=request.url, code_verifier=request.code_verifier)

    def connect(self, code: str, *, redirect_uri: str, code_verifier: str) -> Consent:
        """The connect check after the callback: the code exchange, then debtors, companies
        (and the user, when granted) read at once. Raises WrongCredentials for a code Nmbrs
        refuses, NoSubscription, NoAccess or ProviderUnavailable."""
        grant = self.identity.exchange_code(
            code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        check = self.client.check(grant.access_token, grant.scopes)
        approved_by = (check.user.email or check.user.name) if check.user else ""
        connection = Connection(
            account=approved_by or ", ".join(d.name for d in check.debtors),
            secret=grant.to_secret(),
            environment=_environment(check.debtors),
        )
        return Consent(
            connection=connection,
            check=_account_check(check),
            approved_by=approved_by,
            debtors=[_debtor_label(debtor) for debtor in check.debtors],
        )

    def refresh(self, connection: Connection) -> Connection:
        """The connection with a new grant; its old refresh token is dead once this returns, so
        the caller stores the result in the transaction that uses it. Raises WrongCredentials
        when Nmbrs no longer honours the grant (relink: consent again)."""
        grant = self.identity.refresh(_grant(connection))
        return Connection(connection.account, grant.to_secret(), connection.environment)

    def revoke(self, connection: Connection) -> None:
        self.identity.revoke(_grant(connection))

    def access_expires_at(self, connection: Connection) -> datetime:
        return datetime.fromtimestamp(_grant(connection).expires_at, tz=UTC)

    def access_token(self, connection: Connection) -> str:
        return _grant(connection).access_token

    # -- the port -----------------------------------------------------------------------------

    def check_account(
        self, connection: Connection, *, to_link: Collection[str] = ()
    ) -> AccountCheck:
        grant = _grant(connection)
        return _account_check(self.client.check(grant.access_token, grant.scopes))

    def list_companies(self, connection: Connection) -> list[ProviderCompany]:
        return [
            _company(company) for company in self.client.companies(_grant(connection).access_token)
        ]

    def companies_to_link(
        self, connection: Connection, companies: Sequence[ProviderCompany]
    ) -> list[ProviderCompany]:
        """As given, each with its GUID: a REST company's GUID is its ref (the bot keeps lists
        without GUIDs, so they may come back without one)."""
        return [replace(company, guid=company.guid or company.ref) for company in companies]


def _grant(connection: Connection) -> Grant:
    try:
        return Grant.from_secret(connection.secret)
    except ValueError:
        raise WrongCredentials("the connection holds no Nmbrs REST grant") from None


def _account_check(check: ConnectCheck) -> AccountCheck:
    return AccountCheck(
        environment=_environment(check.debtors),
        companies=[_company(company) for company in check.companies],
        missing_access=check.missing_scopes,
    )


def _environment(debtors: list[Debtor]) -> str:
    return ",".join(debtor.debtor_id for debtor in debtors)


def _debtor_label(debtor: Debtor) -> str:
    return f"{debtor.number} {debtor.name}".strip()


def _company(company: Company) -> ProviderCompany:
    # The port's company number is an int (SOAP's); REST sends it as a string of digits.
    if not company.number.isdigit():
        raise ProviderUnavailable("Nmbrs listed a company whose number is not a whole number")
    return ProviderCompany(
        ref=company.company_id,
        number=int(company.number),
        name=company.name,
        guid=company.company_id,
    )
