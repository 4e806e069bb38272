"""The SOAP client as the core's payroll provider: a username and token as a connection,
company ids as string refs, GUIDs only for what a link keeps, the 22 permissions described."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core.payroll import Connection, ProviderCompany, WrongCredentials
from payroll.nmbrs_soap.client import COMPANY_GUID
from payroll.nmbrs_soap.model import REQUIRED_PERMISSIONS
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.sandbox import (
    DEMO_PERMISSIONS_OFF,
    DEMO_TOKEN,
    DEMO_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxHandle,
    demo_companies,
)

DEMO = Connection(account=DEMO_USERNAME, secret=DEMO_TOKEN)


@pytest.fixture
def soap(sandbox: SandboxHandle) -> Iterator[SoapNmbrsProvider]:
    provider = SoapNmbrsProvider(sandbox.base_url, connect_timeout=1.0, read_timeout=5.0)
    yield provider
    provider.close()


def guid_lookups(sandbox: SandboxHandle) -> list[str]:
    return sorted(call.arguments["CompanyId"] for call in sandbox.calls_to(COMPANY_GUID))


def test_a_check_gives_the_subdomain_and_company_ids_as_refs(soap, sandbox):
    check = soap.check_account(DEMO)

    assert check.environment == "voorbeeld"
    assert [(c.ref, c.number, c.name) for c in check.companies] == [
        (str(c.id), c.number, c.name) for c in demo_companies()
    ]
    assert check.missing_access == []


def test_a_check_looks_up_guids_only_for_the_companies_to_link(soap, sandbox):
    assert all(c.guid is None for c in soap.check_account(DEMO).companies)
    assert guid_lookups(sandbox) == ["48201"]  # the permission probe only

    sandbox.clear_calls()
    check = soap.check_account(DEMO, to_link={"48202"})

    guids = {c.id: c.guid for c in demo_companies()}
    assert [(c.ref, c.guid) for c in check.companies if c.guid] == [("48202", guids[48202])]


def test_missing_access_is_the_switched_off_permissions(soap, sandbox):
    connection = Connection(
        PERMISSIONS_OFF_USERNAME, sandbox.accounts[PERMISSIONS_OFF_USERNAME].token
    )

    assert soap.check_account(connection).missing_access == list(DEMO_PERMISSIONS_OFF)


def test_companies_to_link_fill_in_the_guids_they_lack_in_order(soap, sandbox):
    guids = {str(c.id): c.guid for c in demo_companies()}
    chosen = [
        ProviderCompany("48203", 3, "C"),
        ProviderCompany("48201", 1, "A", guid="known"),
        ProviderCompany("48202", 2, "B"),
    ]

    linked = soap.companies_to_link(Connection(DEMO_USERNAME, DEMO_TOKEN, "voorbeeld"), chosen)

    assert [(c.ref, c.guid) for c in linked] == [
        ("48203", guids["48203"]),
        ("48201", "known"),
        ("48202", guids["48202"]),
    ]
    assert guid_lookups(sandbox) == ["48202", "48203"]


def test_listing_uses_the_connections_environment_and_looks_up_no_guid(soap, sandbox):
    companies = soap.list_companies(Connection(DEMO_USERNAME, DEMO_TOKEN, "voorbeeld"))

    assert [c.ref for c in companies] == [str(c.id) for c in demo_companies()]
    assert all(c.guid is None for c in companies)
    assert guid_lookups(sandbox) == []


def test_a_wrong_token_is_wrong_credentials(soap):
    with pytest.raises(WrongCredentials):
        soap.check_account(Connection(DEMO_USERNAME, "0" * 32))


def test_the_required_access_is_described_per_service_as_the_user_template_lists_it(soap):
    assert soap.required_access == REQUIRED_PERMISSIONS
    described = soap.describe_access(soap.required_access)

    assert list(described) == [
        "CompanyService",
        "DebtorService",
        "EmployeeService",
        "ReportService",
    ]
    assert sum(len(items) for items in described.values()) == 22
    assert soap.describe_access(["EmployeeService.Schedule_Get"]) == {
        "EmployeeService": ["Schedule_Get"]
    }
