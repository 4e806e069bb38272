"""The zeep SOAP v3 client against the sandbox, over real HTTP."""

from __future__ import annotations

import logging
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.core.payroll import (
    MAX_NAME_LENGTH,
    InvalidDomain,
    NoAccess,
    NoSubscription,
    PermissionsMissing,
    ProviderError,
    ProviderUnavailable,
    UnexpectedAnswer,
    WrongCredentials,
)
from payroll.nmbrs_soap.client import (
    COMPANY_GUID,
    MAX_ANSWER_BYTES,
    SoapNmbrsClient,
    fault_error,
    probe_arguments,
    service_url,
    shared_services,
)
from payroll.nmbrs_soap.model import (
    REQUIRED_PERMISSIONS,
    Credentials,
    Environment,
)
from payroll.nmbrs_soap.sandbox import (
    DEMO_PERMISSIONS_OFF,
    DEMO_TOKEN,
    DEMO_USERNAME,
    GARBAGE,
    HANG,
    HTTP_500,
    MANY_COMPANIES_USERNAME,
    NO_COMPANIES_USERNAME,
    NO_SUBSCRIPTION_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxCompany,
    demo_companies,
    many_companies,
    soap_fault,
)
from tests.payroll.nmbrs_soap.conftest import credentials_of

VOORBEELD = Environment(domain="voorbeeld")


def formatted(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


# -- credentials and companies ------------------------------------------------------------------


def test_valid_credentials_give_the_environment_subdomain(provider, demo):
    assert provider.check_credentials(demo) == VOORBEELD


def test_a_valid_account_lists_its_companies_with_guids(provider, sandbox, demo):
    result = provider.check_account(demo)

    assert result.environment == VOORBEELD
    assert [(c.id, c.number, c.name, c.guid) for c in result.companies] == [
        (c.id, c.number, c.name, c.guid) for c in demo_companies()
    ]
    assert result.missing_permissions == []


def test_guids_are_looked_up_only_for_the_companies_asked(provider, sandbox, demo):
    companies = provider.list_companies(demo, VOORBEELD, with_guids_for={48202, 48204})

    assert [c.id for c in companies if c.guid] == [48202, 48204]
    asked = sorted(int(call.arguments["CompanyId"]) for call in sandbox.calls_to(COMPANY_GUID))
    assert asked == [48202, 48204]


def test_a_listing_of_more_than_fifty_companies_comes_without_guids(provider, sandbox):
    result = provider.check_account(credentials_of(sandbox, MANY_COMPANIES_USERNAME))

    assert len(result.companies) == 5000
    assert all(company.guid is None for company in result.companies)
    assert [call.arguments for call in sandbox.calls_to(COMPANY_GUID)] == [
        {"CompanyId": "700001"}  # the permission probe only
    ]


def test_the_chosen_companies_of_a_large_listing_get_their_guids(provider, sandbox):
    chosen = {700001, 704999}
    result = provider.check_account(
        credentials_of(sandbox, MANY_COMPANIES_USERNAME), with_guids_for=chosen
    )

    assert {c.id for c in result.companies if c.guid} == chosen
    asked = [call.arguments["CompanyId"] for call in sandbox.calls_to(COMPANY_GUID)]
    assert sorted(asked) == ["700001", "700001", "704999"]  # the first one is also the probe


def test_a_login_without_companies_gets_an_empty_list(provider, sandbox):
    result = provider.check_account(credentials_of(sandbox, NO_COMPANIES_USERNAME))

    assert result.companies == []
    assert result.missing_permissions == []


def test_companies_added_while_the_sandbox_runs_are_listed(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].companies.append(SandboxCompany(48299, 9, "Nieuw B.V."))

    assert provider.list_companies(demo, VOORBEELD, with_guids_for=set())[-1].name == "Nieuw B.V."


def test_a_wrong_token_is_wrong_credentials(provider):
    with pytest.raises(WrongCredentials) as raised:
        provider.check_account(Credentials(DEMO_USERNAME, "0" * 32))
    assert "1001" in str(raised.value)


def test_an_unknown_username_is_wrong_credentials(provider):
    with pytest.raises(WrongCredentials):
        provider.check_credentials(Credentials("niemand@voorbeeld.nl", DEMO_TOKEN))


def test_an_account_without_api_subscription_is_told_so(provider, sandbox):
    with pytest.raises(NoSubscription):
        provider.check_account(credentials_of(sandbox, NO_SUBSCRIPTION_USERNAME))


def test_every_call_but_environment_get_carries_the_domain(provider, sandbox, demo):
    provider.check_account(demo)

    headers = {(call.operation, call.header, call.domain) for call in sandbox.calls}
    assert ("DebtorService.Environment_Get", "AuthHeader", None) in headers
    assert {
        (header, domain)
        for operation, header, domain in headers
        if operation != "DebtorService.Environment_Get"
    } == {("AuthHeaderWithDomain", "voorbeeld")}


def test_concurrent_customers_never_share_credentials(provider, sandbox):
    accounts = [DEMO_USERNAME, PERMISSIONS_OFF_USERNAME, NO_COMPANIES_USERNAME] * 4
    with ThreadPoolExecutor(len(accounts)) as pool:
        results = list(
            pool.map(lambda u: provider.check_account(credentials_of(sandbox, u)), accounts)
        )

    for username, result in zip(accounts, results, strict=True):
        expected = sandbox.accounts[username]
        assert [c.id for c in result.companies] == [c.id for c in expected.companies]
        assert set(result.missing_permissions) == expected.permissions_off


def test_clients_are_built_once_per_process_and_shared(sandbox):
    first = SoapNmbrsClient(sandbox.base_url)
    second = SoapNmbrsClient(sandbox.base_url + "/")
    try:
        assert shared_services(sandbox.base_url, 5.0, 20.0) is shared_services(
            sandbox.base_url + "/", 5.0, 20.0
        )
        assert first._services is second._services
    finally:
        first.close()
        second.close()


def test_service_urls_are_built_from_scheme_and_host():
    assert service_url("https://api-sandbox.nmbrs.nl/", "ReportService") == (
        "https://api-sandbox.nmbrs.nl/soap/v3/ReportService.asmx"
    )


@pytest.mark.parametrize("base_url", ["api.nmbrs.nl", "ftp://api.nmbrs.nl", "https://x/soap/v3"])
def test_a_base_url_that_is_not_scheme_and_host_is_refused_clearly(base_url):
    with pytest.raises(ValueError, match="scheme and host"):
        SoapNmbrsClient(base_url)


# -- faults -------------------------------------------------------------------------------------

FAULTS = {
    1001: WrongCredentials,
    1002: PermissionsMissing,
    1003: NoAccess,
    1004: NoSubscription,
    2003: NoAccess,
    2004: NoAccess,
    2009: NoAccess,
    2043: InvalidDomain,
    9999: ProviderUnavailable,
}


@pytest.mark.parametrize(("code", "error"), FAULTS.items())
def test_each_nmbrs_fault_code_maps_to_its_error(provider, sandbox, demo, code, error):
    sandbox.accounts[DEMO_USERNAME].fail(soap_fault(code), "CompanyService.List_GetAll")

    with pytest.raises(error) as raised:
        provider.list_companies(demo, VOORBEELD)
    assert type(raised.value) is error


def test_switched_off_list_call_is_named(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].switch_off("CompanyService.List_GetAll")

    with pytest.raises(PermissionsMissing) as raised:
        provider.list_companies(demo, VOORBEELD)
    assert raised.value.missing == ["CompanyService.List_GetAll"]


def test_a_wrong_domain_is_invalid_domain(provider, demo):
    with pytest.raises(InvalidDomain):
        provider.list_companies(demo, Environment(domain="iemandanders"))


def test_a_fault_with_an_unknown_code_is_a_refusal_and_without_code_unavailable():
    assert type(fault_error("X.Y", "Server was unable ---> 2100: Invalid input")) is ProviderError
    assert isinstance(fault_error("X.Y", "Object reference not set"), ProviderUnavailable)


@pytest.mark.parametrize("fault", [HTTP_500, GARBAGE], ids=["http-500", "garbage"])
def test_a_broken_answer_is_unavailable(provider, sandbox, demo, fault):
    sandbox.accounts[DEMO_USERNAME].fail(fault)

    with pytest.raises(ProviderUnavailable):
        provider.check_account(demo)


def test_a_hanging_server_is_unavailable_after_the_read_timeout(impatient_provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].fail(HANG, "CompanyService.List_GetAll")

    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        impatient_provider.check_account(demo)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_over_the_size_cap_is_unexpected_and_not_read(provider, sandbox, demo, chunked):
    sandbox.chunked = chunked
    sandbox.accounts[DEMO_USERNAME].subdomain = "a" * (MAX_ANSWER_BYTES + 1024)

    with pytest.raises(UnexpectedAnswer, match="answer over 8 MiB"):
        provider.check_credentials(demo)


def test_a_list_of_20_000_companies_four_times_the_largest_real_one_is_read(
    provider, sandbox, demo
):
    sandbox.chunked = True
    sandbox.accounts[DEMO_USERNAME].companies = many_companies(20_000)

    assert len(provider.list_companies(demo, VOORBEELD, with_guids_for=set())) == 20_000


@pytest.mark.parametrize(
    "subdomain",
    ["a" * 254, "voorbeeld.nmbrs.nl/../evil", "voor beeld", "-voorbeeld", "x" * 64 + ".nl"],
    ids=["too-long", "path", "space", "leading-dash", "long-label"],
)
def test_a_subdomain_that_is_no_host_name_is_unexpected(provider, sandbox, demo, subdomain):
    sandbox.accounts[DEMO_USERNAME].subdomain = subdomain

    with pytest.raises(UnexpectedAnswer, match="no host name") as raised:
        provider.check_credentials(demo)
    assert subdomain not in str(raised.value)


def test_a_subdomain_with_dots_and_dashes_is_a_host_name(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].subdomain = "bakkerij-de-vries.eu"

    assert provider.check_credentials(demo) == Environment("bakkerij-de-vries.eu")


def test_a_company_name_is_read_on_one_line(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].companies[
        0
    ].name = "Bakkerij\n\thttps://evil.example/login\u2028"

    [first, *_] = provider.list_companies(demo, VOORBEELD, with_guids_for=set())
    assert first.name == "Bakkerij https://evil.example/login"


def test_a_company_name_longer_than_a_name_is_unexpected(provider, sandbox, demo):
    companies = sandbox.accounts[DEMO_USERNAME].companies
    companies[0].name = "N" * MAX_NAME_LENGTH
    assert (
        provider.list_companies(demo, VOORBEELD, with_guids_for=set())[0].name == companies[0].name
    )
    companies[1].name = "N" * (MAX_NAME_LENGTH + 1)

    with pytest.raises(UnexpectedAnswer, match="company name of 256 characters"):
        provider.check_account(demo)


def test_a_guid_that_is_none_is_unexpected(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].companies[0].guid = "g" * 1000

    with pytest.raises(UnexpectedAnswer, match="GUID"):
        provider.company_guids(demo, VOORBEELD, [demo_companies()[0].id])


def test_a_server_that_is_not_there_is_unavailable(demo):
    nobody = SoapNmbrsClient("http://127.0.0.1:9", connect_timeout=0.5, read_timeout=0.5)
    try:
        with pytest.raises(ProviderUnavailable, match="could not be reached"):
            nobody.check_credentials(demo)
    finally:
        nobody.close()


# -- permissions --------------------------------------------------------------------------------


def test_three_switched_off_permissions_are_named_exactly(provider, sandbox):
    credentials = credentials_of(sandbox, PERMISSIONS_OFF_USERNAME)

    assert provider.check_account(credentials).missing_permissions == list(DEMO_PERMISSIONS_OFF)
    assert provider.check_permissions(credentials, VOORBEELD, company_id=48201) == list(
        DEMO_PERMISSIONS_OFF
    )


def test_permissions_switched_on_while_running_are_seen_on_the_recheck(provider, sandbox):
    credentials = credentials_of(sandbox, PERMISSIONS_OFF_USERNAME)
    assert provider.check_account(credentials).missing_permissions

    sandbox.accounts[PERMISSIONS_OFF_USERNAME].switch_on(*DEMO_PERMISSIONS_OFF)

    assert provider.check_account(credentials).missing_permissions == []


def test_every_permission_switched_off_is_named_in_the_tutorial_order(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].switch_off(*REQUIRED_PERMISSIONS)

    result = provider.check_account(demo)

    assert result.missing_permissions == list(REQUIRED_PERMISSIONS)
    assert result.companies == []


def test_environment_get_switched_off_still_lists_companies_with_an_empty_domain(
    provider, sandbox, demo
):
    sandbox.accounts[DEMO_USERNAME].switch_off("DebtorService.Environment_Get")

    result = provider.check_account(demo)

    assert result.environment == Environment(domain="")
    assert len(result.companies) == 5
    assert result.missing_permissions == ["DebtorService.Environment_Get"]


def test_each_permission_is_checked_by_one_real_call_of_its_operation(provider, sandbox, demo):
    provider.check_permissions(demo, VOORBEELD, company_id=48201)

    assert sorted(call.operation for call in sandbox.calls) == sorted(REQUIRED_PERMISSIONS)


def test_every_required_permission_has_harmless_probe_arguments():
    assert set(probe_arguments(48201, 2025)) == set(REQUIRED_PERMISSIONS)


def test_the_probes_never_start_a_real_background_report(provider, sandbox, demo):
    provider.check_account(demo)

    assert sandbox.calls_to(
        "ReportService.Reports_Accountant_Company_EmployeeWageComponentsPerRun_Background"
    )
    assert sandbox.started_reports == []


def test_a_data_fault_during_a_probe_means_the_permission_is_on(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].fail(soap_fault(2004), "CompanyService.ContactPerson_Get")
    sandbox.accounts[DEMO_USERNAME].fail(
        soap_fault(2100, "Invalid input"), "CompanyService.Run_GetList"
    )

    assert provider.check_permissions(demo, VOORBEELD, company_id=48201) == []


def test_nmbrs_failing_during_a_probe_is_unavailable_not_a_missing_permission(
    provider, sandbox, demo
):
    sandbox.accounts[DEMO_USERNAME].fail(soap_fault(9999), "EmployeeService.SVW_GetList")

    with pytest.raises(ProviderUnavailable):
        provider.check_permissions(demo, VOORBEELD, company_id=48201)


def test_guid_calls_stay_within_the_fair_use_limit(sandbox):
    limited = SoapNmbrsClient(sandbox.base_url, max_calls_per_second=10)
    credentials = credentials_of(sandbox, MANY_COMPANIES_USERNAME)
    try:
        limited.company_guids(credentials, Environment("grootkantoor"), range(700001, 700016))
    finally:
        limited.close()

    arrivals = sorted(call.at for call in sandbox.calls_to(COMPANY_GUID))
    assert len(arrivals) == 15
    # The 11th call starts a second after the 1st; the 1st may arrive late (its connection is
    # set up first, the machine may be busy), so count arrivals in half a second. The window's
    # exact length is the limiter's own test (test_ratelimit.py, on a clock).
    busiest = max(sum(1 for t in arrivals if start <= t < start + 0.5) for start in arrivals)
    assert busiest <= 10


# -- the token stays secret ---------------------------------------------------------------------


def test_the_token_never_appears_in_logs_at_debug(provider, sandbox, demo, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="zeep.transports")
    provider.check_account(demo)
    sandbox.accounts[DEMO_USERNAME].fail(GARBAGE, "CompanyService.List_GetAll")
    with pytest.raises(ProviderUnavailable):
        provider.check_account(demo)

    assert any("SOAP DebtorService.Environment_Get" in r.getMessage() for r in caplog.records)
    assert DEMO_TOKEN not in caplog.text
    assert all(DEMO_TOKEN not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "fault",
    [soap_fault(1001), soap_fault(9999), soap_fault(1002), HTTP_500, GARBAGE],
    ids=["1001", "9999", "1002", "http-500", "garbage"],
)
def test_the_token_never_appears_in_exception_text(provider, sandbox, demo, fault):
    sandbox.accounts[DEMO_USERNAME].fail(fault)

    with pytest.raises(ProviderError) as raised:
        provider.check_credentials(demo)
    assert DEMO_TOKEN not in formatted(raised.value)


def test_a_company_id_beyond_an_int_is_unexpected(provider, sandbox, demo):
    sandbox.accounts[DEMO_USERNAME].companies[0].id = 2**31

    with pytest.raises(UnexpectedAnswer, match="valid id"):
        provider.list_companies(demo, VOORBEELD, with_guids_for=set())
