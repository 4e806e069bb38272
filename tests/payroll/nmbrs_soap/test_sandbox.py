"""The embedded Nmbrs sandbox: real HTTP, v3 WSDLs, SOAP 1.1 answers and faults."""

from __future__ import annotations

import pytest
import requests
import zeep
import zeep.exceptions

from payroll.nmbrs_soap.client import SERVICES, probe_arguments
from payroll.nmbrs_soap.model import REQUIRED_PERMISSIONS
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    HTTP_500,
    MANY_COMPANIES_USERNAME,
    NO_COMPANIES_USERNAME,
    NO_SUBSCRIPTION_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxAccount,
    demo_accounts,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(service: str, operation: str, header: str, body: str = "") -> str:
    ns = f"https://api.nmbrs.nl/soap/v3/{service}"
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:n="{ns}"><soap:Header>{header}'
        f"</soap:Header><soap:Body><n:{operation}>{body}</n:{operation}></soap:Body>"
        "</soap:Envelope>"
    )


def demo_header(domain: str = "voorbeeld") -> str:
    return (
        f"<n:AuthHeaderWithDomain><n:Username>{DEMO_USERNAME}</n:Username>"
        f"<n:Token>{DEMO_TOKEN}</n:Token><n:Domain>{domain}</n:Domain></n:AuthHeaderWithDomain>"
    )


def post(sandbox, service: str, operation: str, xml: str, action: str | None = None):
    return requests.post(
        f"{sandbox.base_url}/soap/v3/{service}.asmx",
        data=xml.encode(),
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{action or f"https://api.nmbrs.nl/soap/v3/{service}/{operation}"}"',
        },
        timeout=5,
    )


def strict_client(sandbox, service: str) -> zeep.Client:
    return zeep.Client(sandbox.wsdl_url(service), settings=zeep.Settings(strict=True))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_its_v3_wsdl_pointing_at_the_sandbox(sandbox, service):
    client = strict_client(sandbox, service)

    port = client.wsdl.services[service].ports[f"{service}Soap"]
    assert port.binding_options["address"] == f"{sandbox.base_url}/soap/v3/{service}.asmx"
    assert port.binding.name.namespace == f"https://api.nmbrs.nl/soap/v3/{service}"


def test_every_answer_fits_the_wsdl_read_strictly(sandbox):
    clients = {service: strict_client(sandbox, service) for service in SERVICES}
    auth = {"Username": DEMO_USERNAME, "Token": DEMO_TOKEN}
    arguments = probe_arguments(48201, sandbox.state.today().year)
    operations = [*REQUIRED_PERMISSIONS, "DebtorService.List_GetAll"]
    employee_only = {"EmployeeService.Schedule_Get", "EmployeeService.SVW_GetList"}

    for operation in operations:
        service, name = operation.split(".")
        if name == "Environment_Get":
            headers = {"AuthHeader": auth}
        else:
            headers = {"AuthHeaderWithDomain": {**auth, "Domain": "voorbeeld"}}
        call = getattr(clients[service].service, name)
        if operation in employee_only:
            with pytest.raises(zeep.exceptions.Fault, match="---> 2003: "):
                call(_soapheaders=headers, **arguments.get(operation, {}))
        else:
            call(_soapheaders=headers, **arguments.get(operation, {}))


def test_a_report_for_a_real_run_is_started_and_its_task_succeeds(sandbox):
    client = strict_client(sandbox, "ReportService").service
    headers = {
        "AuthHeaderWithDomain": {"Username": DEMO_USERNAME, "Token": DEMO_TOKEN, "Domain": ""}
    }
    run_id = 48201 * 100 + 1
    year = sandbox.state.today().year  # a run of Nmbrs' current year

    task_id = client.Reports_Accountant_Company_EmployeeWageComponentsPerRun_Background(
        companyId=48201, runId=run_id, year=year, _soapheaders=headers
    )
    result = client.Reports_BackgroundTask_Result(TaskId=task_id, _soapheaders=headers)

    assert [(r.company_id, r.run_id) for r in sandbox.started_reports] == [(48201, run_id)]
    assert result.Status == "Success"


def test_a_wrong_token_is_an_http_500_soap_fault_with_the_nmbrs_code(sandbox):
    header = (
        f"<n:AuthHeader><n:Username>{DEMO_USERNAME}</n:Username>"
        "<n:Token>wrong</n:Token></n:AuthHeader>"
    )
    answer = post(
        sandbox,
        "DebtorService",
        "Environment_Get",
        envelope("DebtorService", "Environment_Get", header),
    )

    assert answer.status_code == 500
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert "<faultcode>soap:Server</faultcode>" in answer.text
    assert "---&gt; 1001: Invalid Authentication" in answer.text


def test_calls_other_than_environment_get_need_the_header_with_domain(sandbox):
    header = (
        f"<n:AuthHeader><n:Username>{DEMO_USERNAME}</n:Username>"
        f"<n:Token>{DEMO_TOKEN}</n:Token></n:AuthHeader>"
    )
    answer = post(
        sandbox, "CompanyService", "List_GetAll", envelope("CompanyService", "List_GetAll", header)
    )

    assert "---&gt; 1001: " in answer.text


def test_an_empty_domain_is_accepted_and_a_wrong_one_is_fault_2043(sandbox):
    empty = post(
        sandbox,
        "CompanyService",
        "List_GetAll",
        envelope("CompanyService", "List_GetAll", demo_header("")),
    )
    wrong = post(
        sandbox,
        "CompanyService",
        "List_GetAll",
        envelope("CompanyService", "List_GetAll", demo_header("elders")),
    )

    assert empty.status_code == 200
    assert "Bakkerij De Gouden Korst B.V." in empty.text
    assert "---&gt; 2043: " in wrong.text


def test_an_unknown_soap_action_is_a_client_fault(sandbox):
    xml = envelope("CompanyService", "List_GetAll", demo_header())
    answer = post(sandbox, "CompanyService", "List_GetAll", xml, action="urn:elsewhere/List_GetAll")

    assert answer.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in answer.text


def test_unknown_paths_are_not_found(sandbox):
    assert (
        requests.get(f"{sandbox.base_url}/soap/v3/PayrollService.asmx?WSDL", timeout=5).status_code
        == 404
    )
    assert post(sandbox, "PayrollService", "List_GetAll", "<x/>").status_code == 404


def test_a_fault_injected_for_every_call_holds_until_healed(sandbox):
    account = sandbox.accounts[DEMO_USERNAME]
    xml = envelope("CompanyService", "List_GetAll", demo_header())

    account.fail(HTTP_500)
    assert (
        post(sandbox, "CompanyService", "List_GetAll", xml).headers["Content-Type"] == "text/html"
    )
    account.heal()
    assert post(sandbox, "CompanyService", "List_GetAll", xml).status_code == 200


def test_recorded_calls_never_keep_the_token(sandbox):
    post(
        sandbox,
        "CompanyService",
        "List_GetAll",
        envelope("CompanyService", "List_GetAll", demo_header()),
    )

    assert sandbox.calls_to("CompanyService.List_GetAll")[0].username == DEMO_USERNAME
    assert DEMO_TOKEN not in repr(sandbox.calls)
    assert DEMO_TOKEN not in repr(sandbox.accounts[DEMO_USERNAME])


def test_a_misspelt_permission_is_refused_where_it_is_given(sandbox):
    with pytest.raises(ValueError, match="unknown operation"):
        sandbox.accounts[DEMO_USERNAME].switch_off("CompanyService.WageTax_GetXml")
    with pytest.raises(ValueError, match="unknown operation"):
        SandboxAccount("x@voorbeeld.nl", "token", "x", permissions_off={"Environment_Get"})


def test_accounts_can_be_added_while_the_sandbox_runs(sandbox):
    sandbox.accounts.add(SandboxAccount("nieuw@voorbeeld.nl", "a1" * 16, "nieuw"))
    header = (
        "<n:AuthHeader><n:Username>nieuw@voorbeeld.nl</n:Username>"
        f"<n:Token>{'a1' * 16}</n:Token></n:AuthHeader>"
    )

    answer = post(
        sandbox,
        "DebtorService",
        "Environment_Get",
        envelope("DebtorService", "Environment_Get", header),
    )

    assert "<SubDomain>nieuw</SubDomain>" in answer.text


def test_the_demo_accounts_cover_the_cases_the_onboarding_meets():
    accounts = {account.username: account for account in demo_accounts()}

    demo = accounts[DEMO_USERNAME]
    assert 3 <= len(demo.companies) <= 10 and not demo.permissions_off
    assert all(company.name.endswith(("B.V.", "Van Dijk")) for company in demo.companies)
    assert len(accounts[MANY_COMPANIES_USERNAME].companies) == 5000
    assert len(accounts[PERMISSIONS_OFF_USERNAME].permissions_off) == 3
    assert accounts[NO_COMPANIES_USERNAME].companies == []
    assert accounts[NO_SUBSCRIPTION_USERNAME].api_subscription is False
    assert len({company.guid for company in accounts[MANY_COMPANIES_USERNAME].companies}) == 5000
