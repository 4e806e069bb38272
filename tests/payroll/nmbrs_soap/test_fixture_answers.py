"""The client against answers the sandbox did not produce: SOAP files written by hand from Nmbrs'
documented sample shapes (tests/payroll/nmbrs_soap/fixtures), served over HTTP byte for byte."""

from __future__ import annotations

import traceback

import pytest

from bot.core.payroll import (
    InvalidDomain,
    NoAccess,
    NoSubscription,
    PermissionsMissing,
    ProviderUnavailable,
    UnexpectedAnswer,
    WrongCredentials,
)
from payroll.nmbrs_soap.client import MAX_ANSWER_BYTES
from payroll.nmbrs_soap.model import REQUIRED_PERMISSIONS, Company, Credentials, Environment

ALICE = Credentials("salaris@dekorst.nl", "b7e4f1a2c9d84e6f8a3b5c7d9e1f2a4b")
DOMAIN = Environment(domain="bakkerijdekorst")

KORST_COMPANIES = [
    Company(91001, 1, "Bakkerij De Korst B.V."),
    Company(91002, 2, "Brasserie Het Fornuis & Zn."),
    Company(91003, 3, "Café ’t Hoekje"),
]


def test_the_environment_answer_gives_the_subdomain(fixture_server, fixture_provider):
    fixture_server.script["DebtorService.Environment_Get"] = (200, "environment_get.xml")

    assert fixture_provider.check_credentials(ALICE) == DOMAIN


def test_fields_our_wsdl_subset_does_not_know_are_ignored(fixture_server, fixture_provider):
    fixture_server.script["DebtorService.Environment_Get"] = (
        200,
        "environment_get_with_unknown_fields.xml",
    )

    assert fixture_provider.check_credentials(ALICE) == Environment("adminkantoorvisser")


def test_the_company_list_is_read_with_its_optional_fields_missing(
    fixture_server, fixture_provider
):
    fixture_server.script["CompanyService.List_GetAll"] = (200, "company_list_getall.xml")

    assert fixture_provider.list_companies(ALICE, DOMAIN, with_guids_for=set()) == KORST_COMPANIES


def test_an_empty_company_list_comes_back_as_nothing(fixture_server, fixture_provider):
    fixture_server.script["CompanyService.List_GetAll"] = (200, "company_list_getall_empty.xml")

    assert fixture_provider.list_companies(ALICE, DOMAIN) == []


def test_a_company_guid_is_read_in_lower_case(fixture_server, fixture_provider):
    fixture_server.script["CompanyService.Converter_GetByCompany_IntToGuid"] = (
        200,
        "company_converter_getbycompany_inttoguid.xml",
    )

    assert fixture_provider.company_guids(ALICE, DOMAIN, [91001]) == {
        91001: "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    }


@pytest.mark.parametrize(
    ("fixture", "error"),
    [
        ("fault_1001.xml", WrongCredentials),
        ("fault_1002.xml", PermissionsMissing),
        ("fault_1003.xml", NoAccess),
        ("fault_1004.xml", NoSubscription),
        ("fault_2003.xml", NoAccess),
        ("fault_2004.xml", NoAccess),
        ("fault_2009.xml", NoAccess),
        ("fault_2043.xml", InvalidDomain),
        ("fault_9999.xml", ProviderUnavailable),
        ("fault_without_code.xml", ProviderUnavailable),
        ("fault_unknown_soapaction.xml", ProviderUnavailable),
    ],
)
def test_nmbrs_faults_map_to_typed_errors(fixture_server, fixture_provider, fixture, error):
    fixture_server.script["CompanyService.List_GetAll"] = (500, fixture)

    with pytest.raises(error) as raised:
        fixture_provider.list_companies(ALICE, DOMAIN)
    assert type(raised.value) is error


@pytest.mark.parametrize(
    ("status", "fixture"),
    [
        (503, "service_unavailable.html"),
        (500, "internal_server_error.html"),
        (200, "fault_1001.xml"),
    ],
    ids=["503-page", "500-page", "fault-with-200"],
)
def test_answers_that_are_not_soap_are_unavailable_or_read_as_faults(
    fixture_server, fixture_provider, status, fixture
):
    fixture_server.script["CompanyService.List_GetAll"] = (status, fixture)

    expected = WrongCredentials if fixture == "fault_1001.xml" else ProviderUnavailable
    with pytest.raises(expected):
        fixture_provider.list_companies(ALICE, DOMAIN)


def test_a_full_check_reads_foreign_answers(fixture_server, fixture_provider):
    fixture_server.script.update(
        {
            "DebtorService.Environment_Get": (200, "environment_get.xml"),
            "CompanyService.List_GetAll": (200, "company_list_getall.xml"),
            "CompanyService.Converter_GetByCompany_IntToGuid": (
                200,
                "company_converter_getbycompany_inttoguid.xml",
            ),
            "CompanyService.Run_GetList": (200, "company_run_getlist.xml"),
            "CompanyService.WageTax_GetXML": (500, "fault_1002.xml"),
            "EmployeeService.EmployeeType_GetList": (200, "employee_employeetype_getlist.xml"),
            "EmployeeService.Schedule_Get": (500, "fault_2003.xml"),
            "EmployeeService.SVW_GetList": (500, "fault_1002.xml"),
            "ReportService.Reports_BackgroundTask_Result": (
                200,
                "report_backgroundtask_result_unknown.xml",
            ),
        }
    )
    fixture_server.default = (500, "fault_2004.xml")  # no access to that company's data: on

    result = fixture_provider.check_account(ALICE, with_guids_for={91002})

    assert result.environment == DOMAIN
    assert [(c.id, c.guid) for c in result.companies] == [
        (91001, None),
        (91002, "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
        (91003, None),
    ]
    assert result.missing_permissions == [
        "CompanyService.WageTax_GetXML",
        "EmployeeService.SVW_GetList",
    ]
    assert set(fixture_server.received) == set(REQUIRED_PERMISSIONS)


def test_a_fault_that_echoes_the_request_keeps_the_token_out_of_the_error(
    fixture_server, fixture_provider
):
    def echo_fault(request: bytes) -> tuple[int, bytes]:
        text = request.decode().replace("&", "&amp;").replace("<", "&lt;")
        fault = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>---&gt; 2100: {text}"
            "</faultstring></soap:Fault></soap:Body></soap:Envelope>"
        )
        return 500, fault.encode()

    fixture_server.script["CompanyService.List_GetAll"] = echo_fault

    with pytest.raises(Exception) as raised:
        fixture_provider.list_companies(ALICE, DOMAIN)
    assert "2100" in str(raised.value)
    assert ALICE.token not in "".join(traceback.format_exception(raised.value))


def test_a_probe_answer_too_large_to_read_is_no_fault_so_the_permission_is_on(
    fixture_server, fixture_provider
):
    every_employee = b"<soap:Envelope>" + b" " * MAX_ANSWER_BYTES + b"</soap:Envelope>"
    fixture_server.script["EmployeeService.PersonalInfo_GetAll_AllEmployeesByCompany"] = (
        lambda request: (200, every_employee)
    )
    fixture_server.default = (500, "fault_2004.xml")  # no access to that company's data: on

    assert fixture_provider.check_permissions(ALICE, DOMAIN, company_id=91001) == []


def test_a_fault_too_large_to_read_is_unexpected(fixture_server, fixture_provider):
    fixture_server.script["CompanyService.List_GetAll"] = lambda request: (
        500,
        b"<soap:Envelope>" + b" " * MAX_ANSWER_BYTES + b"</soap:Envelope>",
    )

    with pytest.raises(UnexpectedAnswer):
        fixture_provider.list_companies(ALICE, DOMAIN)
