"""The REST provider behind the core's port: a consent becomes a connection holding the grant,
companies are addressed by their companyId, the missing scopes are named with their data, and
refresh and revocation go through the connection."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.core.payroll import Connection, ProviderCompany, WrongCredentials
from payroll.nmbrs_rest.model import REQUIRED_SCOPES, Grant
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    MANY_COMPANIES,
    MANY_COMPANIES_LOGIN,
    NARROW_LOGIN,
    NO_COMPANIES_LOGIN,
    TWO_DEBTORS_LOGIN,
    SandboxHandle,
)
from payroll.nmbrs_soap.sandbox import demo_companies as soap_demo_companies
from tests.payroll.nmbrs_rest.conftest import CALLBACK
from tests.payroll.nmbrs_rest.fixtures import demo_rest_provider


def consent(nmbrs: SandboxHandle, provider: RestNmbrsProvider, login: str = FINE_LOGIN):
    request = provider.authorization_start(redirect_uri=CALLBACK, state="st")
    back = nmbrs.consent(request.url, login)
    return provider.connect(
        back["code"], redirect_uri=CALLBACK, code_verifier=request.code_verifier
    )


@pytest.fixture
def named(nmbrs: SandboxHandle) -> Iterator[RestNmbrsProvider]:
    """A provider that also asks `user.info.read`, to name the approving login."""
    rest = demo_rest_provider(nmbrs, ask_user_info=True)
    yield rest
    rest.close()


def test_a_fine_consent_gives_every_company_by_its_company_id(nmbrs, provider):
    consented = consent(nmbrs, provider)

    check = consented.check
    assert check.missing_access == []
    # The REST companyId is the GUID SOAP's converter gives (spec §5): a SOAP link moves by it.
    assert [(c.ref, c.guid, c.number, c.name) for c in check.companies] == [
        (c.guid, c.guid, c.number, c.name) for c in soap_demo_companies()
    ]
    assert consented.debtors == ["1001 Voorbeeld Administratie"]
    assert check.environment == consented.connection.environment != ""


def test_the_connection_holds_the_grant_and_names_the_debtor_without_user_info(nmbrs, provider):
    connection = consent(nmbrs, provider).connection

    grant = Grant.from_secret(connection.secret)
    assert set(grant.scopes) == set(REQUIRED_SCOPES)
    assert connection.account == "Voorbeeld Administratie"
    assert grant.access_token not in repr(connection) + str(connection)


def test_with_user_info_the_approving_login_is_named(nmbrs, named):
    consented = consent(nmbrs, named)

    assert consented.approved_by == FINE_LOGIN == consented.connection.account


def test_narrower_scopes_are_missing_access_described_by_their_data(nmbrs, provider):
    check = consent(nmbrs, provider, NARROW_LOGIN).check

    assert check.missing_access == ["company.document.read", "employee.employment.read"]
    assert provider.describe_access(check.missing_access) == {
        "company.document.read": ["wage_tax_files", "wage_components_per_run"],
        "employee.employment.read": ["contracts", "employments", "salaries", "schedules"],
    }


def test_a_consent_over_two_debtors_sees_the_companies_of_both(nmbrs, provider):
    consented = consent(nmbrs, provider, TWO_DEBTORS_LOGIN)

    assert consented.debtors == ["1001 Voorbeeld Administratie", "1002 Brouwer Holding"]
    assert len(consented.check.companies) == 5
    assert len(consented.connection.environment.split(",")) == 2


def test_a_login_that_sees_no_companies_gives_an_empty_check(nmbrs, provider):
    check = consent(nmbrs, provider, NO_COMPANIES_LOGIN).check

    assert check.companies == [] and check.missing_access == []


def test_5000_companies_are_all_there(nmbrs, provider):
    assert len(consent(nmbrs, provider, MANY_COMPANIES_LOGIN).check.companies) == MANY_COMPANIES


def test_the_port_calls_work_on_the_stored_connection(nmbrs, provider):
    connection = consent(nmbrs, provider, TWO_DEBTORS_LOGIN).connection

    check = provider.check_account(connection)
    companies = provider.list_companies(connection)
    chosen = [companies[3], companies[0]]

    assert [c.ref for c in check.companies] == [c.ref for c in companies]
    assert provider.companies_to_link(connection, chosen) == chosen
    assert all(isinstance(c, ProviderCompany) and c.guid == c.ref for c in companies)


def test_a_refresh_gives_the_connection_a_new_grant_and_the_old_one_dies(nmbrs, provider):
    connection = consent(nmbrs, provider).connection

    refreshed = provider.refresh(connection)

    old, new = Grant.from_secret(connection.secret), Grant.from_secret(refreshed.secret)
    assert new.refresh_token != old.refresh_token
    assert (refreshed.account, refreshed.environment) == (
        connection.account,
        connection.environment,
    )
    assert len(provider.list_companies(refreshed)) == 5
    with pytest.raises(WrongCredentials):
        provider.refresh(connection)


def test_unlink_revokes_the_grant_at_nmbrs(nmbrs, provider):
    connection = consent(nmbrs, provider).connection

    provider.revoke(connection)

    with pytest.raises(WrongCredentials):
        provider.refresh(connection)


def test_a_connection_without_a_grant_is_wrong_credentials(provider):
    with pytest.raises(WrongCredentials):
        provider.list_companies(Connection("demo@voorbeeld.nl", "a-soap-token"))


def test_no_token_code_key_or_secret_reaches_a_log_line(nmbrs, provider, caplog):
    request = provider.authorization_start(redirect_uri=CALLBACK, state="st")
    back = nmbrs.consent(request.url, FINE_LOGIN)  # the browser's part, not ours
    caplog.set_level(logging.DEBUG)
    consented = provider.connect(
        back["code"], redirect_uri=CALLBACK, code_verifier=request.code_verifier
    )
    refreshed = provider.refresh(consented.connection)
    provider.revoke(refreshed)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    grants = [Grant.from_secret(c.secret) for c in (consented.connection, refreshed)]
    secrets = [back["code"], request.code_verifier, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY]
    secrets += [token for g in grants for token in (g.access_token, g.refresh_token)]
    assert logged
    assert not [secret for secret in secrets if secret in logged]
