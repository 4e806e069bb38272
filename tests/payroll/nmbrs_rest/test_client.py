"""The REST API client against the fake: bearer token and subscription key on every call, lists
read to the last page, several debtors listed per debtor, and Nmbrs' refusals as typed errors
(42908 retried with backoff and jitter, 42909 not)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.payroll import (
    MAX_NAME_LENGTH,
    NoAccess,
    NoSubscription,
    PermissionsMissing,
    ProviderUnavailable,
    QuotaExceeded,
    Throttled,
    UnexpectedAnswer,
)
from payroll.nmbrs_rest.client import RestNmbrsClient
from payroll.nmbrs_rest.identity import NmbrsIdentity
from payroll.nmbrs_rest.model import REQUIRED_SCOPES, USER_INFO
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    GARBAGE,
    HANG,
    MANY_COMPANIES,
    MANY_COMPANIES_LOGIN,
    NARROW_LOGIN,
    NO_COMPANIES_LOGIN,
    TWO_DEBTORS_LOGIN,
    api_error,
    demo_companies,
    html_error,
)
from tests.payroll.nmbrs_rest.conftest import consented_grant


@pytest.fixture
def access(nmbrs, identity) -> str:
    return consented_grant(nmbrs, identity).access_token


def test_the_connect_check_reads_debtors_and_companies_of_a_fine_login(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity)

    check = client.check(grant.access_token, grant.scopes)

    assert [(d.number, d.name) for d in check.debtors] == [("1001", "Voorbeeld Administratie")]
    assert [(c.company_id, c.number, c.name) for c in check.companies] == [
        (c.company_id, c.number, c.name) for c in demo_companies()
    ]
    assert check.missing_scopes == [] and check.user is None
    assert sorted(call.operation for call in nmbrs.calls) == ["companies", "debtors", "token"]


def test_every_list_is_read_to_its_last_page_100_rows_at_a_time(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity, MANY_COMPANIES_LOGIN)

    check = client.check(grant.access_token, grant.scopes)

    assert len(check.companies) == MANY_COMPANIES
    assert len({c.company_id for c in check.companies}) == MANY_COMPANIES
    pages = nmbrs.calls_to("companies")
    assert len(pages) == MANY_COMPANIES // 100
    assert all("pageSize=100" in call.query for call in pages)


def test_a_consent_over_several_debtors_is_listed_per_debtor(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity, TWO_DEBTORS_LOGIN)

    check = client.check(grant.access_token, grant.scopes)

    assert [d.name for d in check.debtors] == ["Voorbeeld Administratie", "Brouwer Holding"]
    by_debtor = {d.debtor_id: d.name for d in check.debtors}
    assert [(c.name, by_debtor[c.debtor_id]) for c in check.companies] == [
        (c.name, "Voorbeeld Administratie") for c in demo_companies()[:3]
    ] + [(c.name, "Brouwer Holding") for c in demo_companies()[3:]]
    assert len(nmbrs.calls_to("debtor_companies")) == 2
    assert {c.company_id for c in client.companies(grant.access_token)} == {
        c.company_id for c in check.companies
    }


def test_a_login_without_a_company_filter_sees_no_companies(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity, NO_COMPANIES_LOGIN)

    check = client.check(grant.access_token, grant.scopes)

    assert check.companies == [] and len(check.debtors) == 1


def test_narrower_scopes_are_named_and_what_they_cover_is_still_read(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity, NARROW_LOGIN)

    check = client.check(grant.access_token, grant.scopes)

    assert check.missing_scopes == ["company.document.read", "employee.employment.read"]
    assert len(check.companies) == 3


def test_without_company_info_nothing_is_read_and_the_scope_is_missing(nmbrs, client):
    check = client.check("never-sent", ("offline_access",))

    assert check.companies == [] and check.debtors == []
    assert check.missing_scopes == list(REQUIRED_SCOPES[1:])
    assert nmbrs.calls == []


def test_the_approving_user_is_read_when_user_info_is_granted(nmbrs, client):
    identity = NmbrsIdentity(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        identity_url=nmbrs.base_url,
        scopes=REQUIRED_SCOPES + (USER_INFO,),
    )
    grant = consented_grant(nmbrs, identity)

    check = client.check(grant.access_token, grant.scopes)

    assert check.user is not None and check.user.email == FINE_LOGIN


def test_a_call_without_the_right_subscription_key_is_unavailable(nmbrs, access):
    other = RestNmbrsClient("not-our-key", rest_url=nmbrs.base_url)
    try:
        with pytest.raises(ProviderUnavailable, match="401"):
            other.debtors(access)
    finally:
        other.close()


def test_an_access_token_nmbrs_no_longer_takes_is_unavailable(nmbrs, client, access):
    nmbrs.advance(3601)

    with pytest.raises(ProviderUnavailable, match="401"):
        client.debtors(access)


@pytest.mark.parametrize(
    "code, error",
    [(40303, NoAccess), (40304, NoSubscription), (42909, QuotaExceeded)],
)
def test_nmbrs_error_bodies_are_typed_errors_and_not_retried(
    nmbrs, client, access, waits, code, error
):
    nmbrs.fail(api_error(code), "debtors")

    with pytest.raises(error):
        client.debtors(access)

    assert len(nmbrs.calls_to("debtors")) == 1 and waits.slept == []


def test_a_quota_used_up_is_said_as_such_not_as_a_pause(nmbrs, client, access):
    nmbrs.fail(api_error(42909), "debtors")

    with pytest.raises(QuotaExceeded) as used_up:
        client.debtors(access)

    assert used_up.value.code == "quota_exceeded"
    assert not isinstance(used_up.value, Throttled)


def test_too_many_calls_is_retried_with_exponential_backoff_and_jitter(
    nmbrs, client, access, waits
):
    nmbrs.fail(api_error(42908, times=3), "debtors")

    assert len(client.debtors(access)) == 1

    assert len(nmbrs.calls_to("debtors")) == 4
    assert waits.slept == [0.25, 0.5, 1.0]  # 0.5 s doubling, times the jitter of 0.5


def test_a_retry_after_is_waited_for_at_least(nmbrs, client, access, waits):
    nmbrs.fail(api_error(42908, times=1, retry_after=3), "debtors")

    client.debtors(access)

    assert waits.slept == [3.0]


def test_too_many_calls_that_does_not_stop_is_throttled_after_the_last_try(
    nmbrs, client, access, waits
):
    nmbrs.fail(api_error(42908), "debtors")

    with pytest.raises(Throttled):
        client.debtors(access)

    assert len(nmbrs.calls_to("debtors")) == 4 and len(waits.slept) == 3


def test_a_missing_scope_refused_by_nmbrs_is_permissions_missing(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity)

    with pytest.raises(PermissionsMissing) as missing:
        client.check(grant.access_token, grant.scopes + (USER_INFO,))

    assert missing.value.missing == [USER_INFO]


@pytest.mark.parametrize("fault", [html_error(502), html_error(503), api_error(50001), GARBAGE])
def test_server_errors_and_answers_that_are_not_json_are_unavailable(nmbrs, client, access, fault):
    nmbrs.fail(fault, "companies")

    with pytest.raises(ProviderUnavailable) as unavailable:
        client.companies(access)

    assert type(unavailable.value) is ProviderUnavailable


def test_a_failure_listing_one_debtor_fails_the_whole_check(nmbrs, identity, client):
    grant = consented_grant(nmbrs, identity, TWO_DEBTORS_LOGIN)
    nmbrs.fail(api_error(50001), "debtor_companies")

    with pytest.raises(ProviderUnavailable):
        client.check(grant.access_token, grant.scopes)


def test_an_api_that_hangs_is_unavailable_after_the_read_timeout(nmbrs, access):
    impatient = RestNmbrsClient(DEMO_SUBSCRIPTION_KEY, rest_url=nmbrs.base_url, read_timeout=0.3)
    nmbrs.fail(HANG, "debtors")
    try:
        with pytest.raises(ProviderUnavailable, match="in time"):
            impatient.debtors(access)
    finally:
        impatient.close()


def test_an_answer_larger_than_the_cap_is_unavailable(nmbrs, identity):
    grant = consented_grant(nmbrs, identity, MANY_COMPANIES_LOGIN)
    capped = RestNmbrsClient(DEMO_SUBSCRIPTION_KEY, rest_url=nmbrs.base_url, max_answer_bytes=1024)
    try:
        with pytest.raises(ProviderUnavailable):
            capped.companies(grant.access_token)
    finally:
        capped.close()


def test_no_error_message_holds_the_token_or_the_key(nmbrs, client, access):
    nmbrs.fail(api_error(40303), "debtors")

    with pytest.raises(NoAccess) as refused:
        client.debtors(access)

    assert access not in str(refused.value) and DEMO_SUBSCRIPTION_KEY not in str(refused.value)


def named(nmbrs, name: str) -> None:
    """The fine login's first company, renamed in Nmbrs."""
    companies = nmbrs.state.logins[FINE_LOGIN].debtors[0].companies
    companies[0] = replace(companies[0], name=name)


def test_a_company_name_is_read_on_one_line(nmbrs, identity, client):
    named(nmbrs, "Bakkerij\n\thttps://evil.example/x\u2028")
    grant = consented_grant(nmbrs, identity)

    check = client.check(grant.access_token, grant.scopes)

    assert check.companies[0].name == "Bakkerij https://evil.example/x"


def test_a_name_longer_than_any_name_is_an_unexpected_answer(nmbrs, identity, client):
    named(nmbrs, "N" * (MAX_NAME_LENGTH + 1))
    grant = consented_grant(nmbrs, identity)

    with pytest.raises(UnexpectedAnswer):
        client.check(grant.access_token, grant.scopes)
