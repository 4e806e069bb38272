"""Nmbrs SOAP v3 as the bot's payroll provider (`bot.core.payroll.PayrollProvider`).

A connection's account is the Nmbrs username, its secret the API token, its environment the
subdomain `Environment_Get` answers. A company's ref is its SOAP company id; its GUID is looked
up (one call each) only for the companies a link keeps. The required access is the 22 API
permissions of the user template, described per service as the template lists them.

zeep, lxml and the parsed WSDLs (~20 MiB) are loaded on the first call, not when the provider
is built: `serve` builds the SOAP provider for the links it still has, also where new
onboardings use the REST API, and a process that never calls it never loads them.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.core.payroll import NMBRS_SOAP, AccountCheck, Connection, ProviderCompany
from payroll.nmbrs_soap.model import (
    DATA_READ,
    REQUIRED_PERMISSIONS,
    Company,
    Credentials,
    Environment,
    group_by_service,
)
from payroll.nmbrs_soap.ratelimit import MAX_CALLS_PER_SECOND, MAX_CONCURRENT_CALLS

if TYPE_CHECKING:
    from payroll.nmbrs_soap.client import SoapNmbrsClient


class SoapNmbrsProvider:
    """Blocking; safe to share between threads. `close()` when done. Its client (zeep) is built
    on first use."""

    name = NMBRS_SOAP
    required_access = REQUIRED_PERMISSIONS
    data_read = DATA_READ

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_calls_per_second: int = MAX_CALLS_PER_SECOND,
        max_concurrent_calls: int = MAX_CONCURRENT_CALLS,
    ):
        self._client_arguments: dict[str, Any] = {
            "base_url": base_url,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_calls_per_second": max_calls_per_second,
            "max_concurrent_calls": max_concurrent_calls,
        }
        self._client: SoapNmbrsClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> SoapNmbrsClient:
        """The SOAP client, built (zeep imported, WSDLs parsed) by the first caller."""
        with self._lock:
            if self._client is None:
                from payroll.nmbrs_soap.client import SoapNmbrsClient

                self._client = SoapNmbrsClient(**self._client_arguments)
            return self._client

    @property
    def loaded(self) -> bool:
        """Whether the client was built (zeep loaded)."""
        return self._client is not None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()

    def describe_access(self, access: Iterable[str]) -> dict[str, list[str]]:
        """{service: [operation, ...]}: the names the user template shows them by."""
        return group_by_service(access)

    def check_account(
        self, connection: Connection, *, to_link: Collection[str] = ()
    ) -> AccountCheck:
        check = self.client.check_account(
            _credentials(connection), with_guids_for={_company_id(ref) for ref in to_link}
        )
        return AccountCheck(
            environment=check.environment.domain,
            companies=[_company(company) for company in check.companies],
            missing_access=check.missing_permissions,
        )

    def list_companies(self, connection: Connection) -> list[ProviderCompany]:
        companies = self.client.list_companies(
            _credentials(connection), _environment(connection), with_guids_for=set()
        )
        return [_company(company) for company in companies]

    def companies_to_link(
        self, connection: Connection, companies: Sequence[ProviderCompany]
    ) -> list[ProviderCompany]:
        guids = self.client.company_guids(
            _credentials(connection),
            _environment(connection),
            [_company_id(company.ref) for company in companies if company.guid is None],
        )
        return [
            company if company.guid else replace(company, guid=guids.get(_company_id(company.ref)))
            for company in companies
        ]


def _credentials(connection: Connection) -> Credentials:
    return Credentials(username=connection.account, token=connection.secret)


def _environment(connection: Connection) -> Environment:
    return Environment(domain=connection.environment)


def _company(company: Company) -> ProviderCompany:
    return ProviderCompany(
        ref=str(company.id), number=company.number, name=company.name, guid=company.guid
    )


def _company_id(ref: str) -> int:
    return int(ref)
