"""The SOAP API's terms: the 22 required permissions, grouped by service; credentials."""

from __future__ import annotations

from payroll.nmbrs_soap.model import (
    REQUIRED_PERMISSIONS,
    REQUIRED_PERMISSIONS_BY_SERVICE,
    Credentials,
    group_by_service,
)


def test_there_are_22_distinct_required_permissions_named_with_their_service():
    assert len(REQUIRED_PERMISSIONS) == len(set(REQUIRED_PERMISSIONS)) == 22
    assert {p.split(".")[0] for p in REQUIRED_PERMISSIONS} == {
        "CompanyService",
        "DebtorService",
        "EmployeeService",
        "ReportService",
    }
    assert "CompanyService.List_GetAll" in REQUIRED_PERMISSIONS


def test_permissions_group_back_by_service_in_order():
    assert group_by_service(REQUIRED_PERMISSIONS) == {
        service: list(operations) for service, operations in REQUIRED_PERMISSIONS_BY_SERVICE.items()
    }
    assert group_by_service(["ReportService.B", "CompanyService.A", "ReportService.C"]) == {
        "ReportService": ["B", "C"],
        "CompanyService": ["A"],
    }


def test_credentials_never_show_the_token():
    credentials = Credentials("demo@voorbeeld.nl", "geheim-token")

    assert "geheim-token" not in repr(credentials)
    assert "geheim-token" not in str(credentials)
