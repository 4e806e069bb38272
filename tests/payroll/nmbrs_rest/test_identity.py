"""The identity client (authlib) against the fake: the authorize URL with state and PKCE S256,
the code exchange, rotating refreshes, revocation, and failures as the core's errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bot.core.payroll import ProviderError, ProviderUnavailable, WrongCredentials
from payroll.nmbrs_rest.identity import NmbrsIdentity
from payroll.nmbrs_rest.model import REQUIRED_SCOPES, Grant
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    FINE_LOGIN,
    GARBAGE,
    HANG,
    NARROW_LOGIN,
    NARROW_UNTICKS,
    html_error,
)
from tests.payroll.nmbrs_rest.conftest import CALLBACK, consented_grant


def test_the_authorize_url_asks_our_scopes_with_the_state_and_an_s256_challenge(identity):
    request = identity.authorization_request(redirect_uri=CALLBACK, state="bound-state")

    query = {key: values[0] for key, values in parse_qs(urlsplit(request.url).query).items()}
    assert request.url.startswith(identity.identity_url + "/connect/authorize?")
    assert query["client_id"] == DEMO_CLIENT_ID
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"].split() == list(REQUIRED_SCOPES)
    assert query["state"] == request.state == "bound-state"
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == create_s256_code_challenge(request.code_verifier)
    assert 43 <= len(request.code_verifier) <= 128
    assert request.code_verifier not in request.url


def test_each_authorize_url_has_a_verifier_of_its_own(identity):
    first = identity.authorization_request(redirect_uri=CALLBACK, state="s")
    second = identity.authorization_request(redirect_uri=CALLBACK, state="s")

    assert first.code_verifier != second.code_verifier


def test_openid_is_never_asked(nmbrs):
    with pytest.raises(ValueError, match="openid"):
        NmbrsIdentity("id", "secret", scopes=("openid", "offline_access"))


def test_the_code_exchange_gives_a_grant_of_the_scopes_granted(nmbrs):
    identity = NmbrsIdentity(
        DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, identity_url=nmbrs.base_url, clock=lambda: 1000.0
    )

    grant = consented_grant(nmbrs, identity, NARROW_LOGIN)

    assert grant.access_token and grant.refresh_token
    assert grant.expires_at == 1000.0 + 3600
    assert set(grant.scopes) == set(REQUIRED_SCOPES) - NARROW_UNTICKS


def test_a_code_with_the_wrong_verifier_is_refused_as_wrong_credentials(nmbrs, identity):
    request = identity.authorization_request(redirect_uri=CALLBACK, state="s")
    code = nmbrs.consent(request.url, FINE_LOGIN)["code"]

    with pytest.raises(WrongCredentials):
        identity.exchange_code(code, redirect_uri=CALLBACK, code_verifier="x" * 64)


def test_a_refresh_returns_the_rotated_refresh_token(nmbrs, identity):
    grant = consented_grant(nmbrs, identity)

    refreshed = identity.refresh(grant)

    assert refreshed.refresh_token != grant.refresh_token
    assert refreshed.access_token != grant.access_token
    assert refreshed.scopes == grant.scopes
    assert identity.refresh(refreshed).refresh_token  # the rotated one works once


def test_refreshing_with_a_used_refresh_token_is_wrong_credentials(nmbrs, identity):
    grant = consented_grant(nmbrs, identity)
    identity.refresh(grant)

    with pytest.raises(WrongCredentials, match="invalid_grant"):
        identity.refresh(grant)


def test_a_grant_without_offline_access_cannot_be_refreshed(identity):
    with pytest.raises(WrongCredentials, match="offline_access"):
        identity.refresh(Grant("access", "", 0.0, ("company.info.read",)))


def test_a_revoked_grant_no_longer_refreshes(nmbrs, identity):
    grant = consented_grant(nmbrs, identity)

    identity.revoke(grant)

    assert [call.operation for call in nmbrs.calls_to("revocation")] == ["revocation"]
    with pytest.raises(WrongCredentials):
        identity.refresh(grant)


def test_a_client_nmbrs_does_not_know_is_a_provider_error_without_the_secret(nmbrs):
    identity = NmbrsIdentity(DEMO_CLIENT_ID, "wrong*secret$", identity_url=nmbrs.base_url)
    grant = Grant("a", "r", 0.0, ())

    with pytest.raises(ProviderError, match="invalid_client") as refused:
        identity.refresh(grant)

    assert not isinstance(refused.value, WrongCredentials)
    assert "wrong*secret$" not in str(refused.value)


@pytest.mark.parametrize("fault", [html_error(503), html_error(502), GARBAGE])
def test_a_token_endpoint_that_does_not_answer_json_is_unavailable(nmbrs, identity, fault):
    grant = consented_grant(nmbrs, identity)
    nmbrs.fail(fault, "token")

    with pytest.raises(ProviderUnavailable):
        identity.refresh(grant)


def test_a_token_endpoint_that_hangs_is_unavailable_after_the_read_timeout(nmbrs):
    identity = NmbrsIdentity(
        DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, identity_url=nmbrs.base_url, read_timeout=0.3
    )
    grant = consented_grant(nmbrs, identity)
    nmbrs.fail(HANG, "token")

    with pytest.raises(ProviderUnavailable, match="in time"):
        identity.refresh(grant)


def test_a_token_answer_larger_than_the_cap_is_unavailable(nmbrs):
    identity = NmbrsIdentity(
        DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, identity_url=nmbrs.base_url, max_answer_bytes=64
    )
    request = identity.authorization_request(redirect_uri=CALLBACK, state="s")
    code = nmbrs.consent(request.url, FINE_LOGIN)["code"]

    with pytest.raises(ProviderUnavailable):
        identity.exchange_code(code, redirect_uri=CALLBACK, code_verifier=request.code_verifier)


def test_an_unreachable_identity_service_is_unavailable():
    identity = NmbrsIdentity(
        DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, identity_url="http://127.0.0.1:9", connect_timeout=0.5
    )

    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        identity.refresh(Grant("a", "r", 0.0, ()))
