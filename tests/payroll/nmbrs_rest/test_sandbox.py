"""The fake Nmbrs over real HTTP, spoken to directly: what it refuses, how codes and refresh
tokens live and die, and how the API pages and refuses."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    MASTER_LOGIN,
    TWO_DEBTORS_LOGIN,
    SandboxHandle,
    company_guid,
)
from tests.payroll.nmbrs_rest.conftest import CALLBACK, consented_grant

VERIFIER = "v" * 50
CLIENT = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}


def authorize_url(nmbrs: SandboxHandle, **overrides: str) -> str:
    query = {
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "offline_access company.info.read",
        "state": "s1",
        "code_challenge": create_s256_code_challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }
    return f"{nmbrs.base_url}/connect/authorize?{urlencode(query)}"


def token(nmbrs: SandboxHandle, auth: httpx.Auth | None = None, **form: str) -> httpx.Response:
    body = form if auth else {**CLIENT, **form}
    return httpx.post(f"{nmbrs.base_url}/connect/token", data=body, auth=auth, timeout=5)


def code_for(nmbrs: SandboxHandle, login: str = FINE_LOGIN, **overrides: str) -> str:
    return nmbrs.consent(authorize_url(nmbrs, **overrides), login)["code"]


def exchange(nmbrs: SandboxHandle, code: str, verifier: str = VERIFIER) -> httpx.Response:
    return token(
        nmbrs,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=verifier,
    )


def api(nmbrs: SandboxHandle, path: str, access_token: str, **params: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "X-Subscription-Key": DEMO_SUBSCRIPTION_KEY,
    }
    return httpx.get(f"{nmbrs.base_url}{path}", params=params, headers=headers, timeout=5)


@pytest.mark.parametrize(
    "overrides, title",
    [
        ({"client_id": "PartnerApp_Other"}, "Invalid client"),
        ({"redirect_uri": "http://127.0.0.1:9/other"}, "Invalid redirect_uri"),
        ({"scope": "openid offline_access"}, "Invalid scope"),
        ({"scope": "offline_access company.info.read employee.leave.read"}, "Invalid scope"),
    ],
)
def test_a_request_nmbrs_cannot_take_gets_an_error_page_and_no_redirect(nmbrs, overrides, title):
    answer = httpx.get(authorize_url(nmbrs, **overrides), timeout=5)

    assert answer.status_code == 400
    assert title in answer.text


def test_the_login_page_offers_a_demo_login_per_case(nmbrs):
    page = httpx.get(authorize_url(nmbrs), timeout=5).text

    for login in nmbrs.state.logins:
        assert f'value="{login}"' in page


def test_approving_sends_the_browser_back_with_a_code_the_granted_scopes_and_the_state(nmbrs):
    back = nmbrs.consent(authorize_url(nmbrs), FINE_LOGIN)

    assert back["state"] == "s1"
    assert back["scope"] == "offline_access company.info.read"
    assert back["code"]


def test_refusing_sends_the_browser_back_with_access_denied(nmbrs):
    back = nmbrs.consent(authorize_url(nmbrs), FINE_LOGIN, approve=False)

    assert back == {"error": "access_denied", "state": "s1"}


def test_an_accountants_master_login_is_refused_and_never_sent_back(nmbrs):
    with pytest.raises(ValueError, match="login page answered 403"):
        nmbrs.consent(authorize_url(nmbrs), MASTER_LOGIN)


def test_a_code_gives_tokens_once_for_the_right_pkce_verifier(nmbrs):
    assert exchange(nmbrs, code_for(nmbrs), verifier="w" * 50).json() == {"error": "invalid_grant"}

    code = code_for(nmbrs)
    tokens = exchange(nmbrs, code).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "offline_access company.info.read"
    assert tokens["refresh_token"]

    assert exchange(nmbrs, code).json() == {"error": "invalid_grant"}
    # A replayed code revokes what it gave (RFC 6749 §4.1.2).
    assert api(nmbrs, "/api/debtors", tokens["access_token"]).status_code == 401


def test_a_code_lives_five_minutes(nmbrs):
    code = code_for(nmbrs)
    nmbrs.advance(5 * 60 + 1)

    assert exchange(nmbrs, code).json() == {"error": "invalid_grant"}


def test_a_refresh_token_comes_only_with_offline_access(nmbrs):
    tokens = exchange(nmbrs, code_for(nmbrs, scope="company.info.read")).json()

    assert "refresh_token" not in tokens


def test_the_client_may_authenticate_with_http_basic_percent_encoded(nmbrs):
    encoded = f"{quote(DEMO_CLIENT_ID, safe='')}:{quote(DEMO_CLIENT_SECRET, safe='')}"
    header = "Basic " + base64.b64encode(encoded.encode()).decode()
    answer = httpx.post(
        f"{nmbrs.base_url}/connect/token",
        data={"grant_type": "authorization_code", "code": code_for(nmbrs),
              "redirect_uri": CALLBACK, "code_verifier": VERIFIER},
        headers={"Authorization": header},
        timeout=5,
    )  # fmt: skip

    assert answer.status_code == 200


def test_a_wrong_client_secret_is_invalid_client(nmbrs):
    answer = token(
        nmbrs, client_id=DEMO_CLIENT_ID, client_secret="nope", grant_type="refresh_token"
    )

    assert (answer.status_code, answer.json()) == (401, {"error": "invalid_client"})


def test_refresh_tokens_rotate_and_a_reused_one_breaks_the_grant(nmbrs):
    first = exchange(nmbrs, code_for(nmbrs)).json()
    second = token(nmbrs, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]

    reused = token(nmbrs, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.json() == {"error": "invalid_grant"}

    # The rotated token used again killed the grant: the newest tokens die with it.
    newest = token(nmbrs, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert newest.json() == {"error": "invalid_grant"}
    assert api(nmbrs, "/api/debtors", second["access_token"]).status_code == 401


def test_a_refresh_token_lives_thirty_days(nmbrs):
    tokens = exchange(nmbrs, code_for(nmbrs)).json()
    nmbrs.advance(30 * 24 * 3600 + 1)

    answer = token(nmbrs, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert answer.json() == {"error": "invalid_grant"}


def test_revoking_a_refresh_token_ends_the_grant(nmbrs):
    tokens = exchange(nmbrs, code_for(nmbrs)).json()
    revoked = httpx.post(
        f"{nmbrs.base_url}/connect/revocation",
        data={**CLIENT, "token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        timeout=5,
    )

    assert revoked.status_code == 200
    assert api(nmbrs, "/api/debtors", tokens["access_token"]).status_code == 401
    answer = token(nmbrs, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert answer.json() == {"error": "invalid_grant"}


def test_the_api_wants_the_subscription_key_and_a_live_bearer_token(nmbrs):
    access = exchange(nmbrs, code_for(nmbrs)).json()["access_token"]
    without_key = httpx.get(
        f"{nmbrs.base_url}/api/debtors", headers={"Authorization": f"Bearer {access}"}, timeout=5
    )
    assert without_key.status_code == 401

    without_token = httpx.get(
        f"{nmbrs.base_url}/api/debtors",
        headers={"X-Subscription-Key": DEMO_SUBSCRIPTION_KEY},
        timeout=5,
    )
    assert without_token.json()["code"] == 40101
    assert api(nmbrs, "/api/debtors", "made-up").json()["code"] == 40102
    nmbrs.advance(3601)
    assert api(nmbrs, "/api/debtors", access).json()["code"] == 40102


def test_the_api_pages_with_nmbrs_envelope_and_at_most_100_rows(nmbrs):
    access = exchange(nmbrs, code_for(nmbrs)).json()["access_token"]

    page = api(nmbrs, "/api/companies", access, pageNumber="2", pageSize="2").json()
    assert [row["companyId"] for row in page["data"]] == [company_guid(48203), company_guid(48204)]
    pagination = page["pagination"]
    assert (pagination["totalPages"], pagination["totalRecords"]) == (3, 5)
    assert pagination["nextPage"].endswith("pageNumber=3&pageSize=2")
    too_large = api(nmbrs, "/api/companies", access, pageSize="101")
    assert (too_large.status_code, too_large.json()["code"]) == (400, 40033)


def test_a_consent_over_two_debtors_lists_companies_per_debtor_only(nmbrs):
    access = exchange(nmbrs, code_for(nmbrs, login=TWO_DEBTORS_LOGIN)).json()["access_token"]

    several = api(nmbrs, "/api/companies", access)
    assert (several.status_code, several.json()["code"]) == (403, 40306)
    debtors = api(nmbrs, "/api/debtors", access).json()["data"]
    counts = [
        len(api(nmbrs, f"/api/debtors/{d['debtorId']}/companies", access).json()["data"])
        for d in debtors
    ]
    assert counts == [3, 2]


def test_a_debtor_outside_the_consent_is_40303(nmbrs):
    access = exchange(nmbrs, code_for(nmbrs)).json()["access_token"]

    other = api(nmbrs, "/api/debtors/00000000-0000-0000-0000-000000000000/companies", access)
    assert (other.status_code, other.json()["code"]) == (403, 40303)


def test_a_call_beyond_the_granted_scopes_is_forbidden(nmbrs):
    access = exchange(nmbrs, code_for(nmbrs)).json()["access_token"]

    assert api(nmbrs, "/api/user/info", access).status_code == 403


def test_no_call_it_records_holds_a_token_or_code(nmbrs):
    code = code_for(nmbrs)
    tokens = exchange(nmbrs, code).json()
    api(nmbrs, "/api/debtors", tokens["access_token"], pageSize="100")

    recorded = repr(nmbrs.calls)
    assert [call.operation for call in nmbrs.calls] == ["token", "debtors"]
    for secret in (code, tokens["access_token"], tokens["refresh_token"], DEMO_SUBSCRIPTION_KEY):
        assert secret not in recorded


def test_the_fake_counts_round_trips_as_calls_made_after_an_answer(nmbrs, identity, client):
    assert nmbrs.round_trips() == 0
    grant = consented_grant(nmbrs, identity)
    nmbrs.latency = 0.3
    client.check(grant.access_token, grant.scopes)  # debtors and companies at once

    assert nmbrs.round_trips() == 2  # the token exchange, then the two lists


def test_discovery_lists_the_endpoints_and_s256(nmbrs):
    found = httpx.get(f"{nmbrs.base_url}/.well-known/openid-configuration", timeout=5).json()

    assert found["token_endpoint"] == f"{nmbrs.base_url}/connect/token"
    assert found["revocation_endpoint"] == f"{nmbrs.base_url}/connect/revocation"
    assert found["code_challenge_methods_supported"] == ["S256"]
    assert "openid" not in found["scopes_supported"]
