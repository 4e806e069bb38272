"""Nmbrs' identity service through authlib: the authorization URL with state and PKCE (S256),
the code exchange, the refresh of a grant (single-use refresh tokens that rotate) and revocation.

The client authenticates with `client_secret_post` (spec §2.2: Nmbrs takes it beside HTTP Basic;
in the body the secret needs none of the percent-encoding Basic asks, which authlib does not do).
Every operation builds its own authlib client, which keeps the token of one exchange, so
concurrent exchanges never share one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from bot.core.payroll import ProviderError, ProviderUnavailable, WrongCredentials
from payroll.nmbrs_rest.http import MAX_ANSWER_BYTES, CappedTransport, timeouts
from payroll.nmbrs_rest.model import REFUSED_SCOPES, REQUIRED_SCOPES, Grant

logger = logging.getLogger(__name__)

DEFAULT_IDENTITY_URL = "https://identityservice.nmbrs.com"
AUTHORIZE_PATH = "/connect/authorize"
TOKEN_PATH = "/connect/token"
REVOCATION_PATH = "/connect/revocation"

# Nmbrs' access tokens live an hour (spec §2.2) when an answer does not say.
DEFAULT_EXPIRES_IN = 3600
# RFC 7636: a verifier of 43 to 128 characters; authlib's token alphabet is the unreserved one.
VERIFIER_LENGTH = 64


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what the callback needs to finish: the `state` the caller
    chose and the PKCE verifier, both kept server-side until the callback."""

    url: str = field(repr=False)
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


class NmbrsIdentity:
    """Blocking; safe to share between threads."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        identity_url: str = DEFAULT_IDENTITY_URL,
        scopes: Collection[str] = REQUIRED_SCOPES,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        clock: Callable[[], float] = time.time,
    ):
        refused = REFUSED_SCOPES.intersection(scopes)
        if refused:
            raise ValueError(f"Nmbrs refuses these scopes: {', '.join(sorted(refused))}")
        self.identity_url = identity_url.rstrip("/")
        self.scopes = tuple(scopes)
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeouts(connect_timeout, read_timeout)
        self._max_answer_bytes = max_answer_bytes
        self._clock = clock

    def authorization_request(self, *, redirect_uri: str, state: str) -> AuthorizationRequest:
        """The authorize URL for these scopes with `state` and a fresh PKCE S256 challenge.
        Pure: no call."""
        verifier = generate_token(VERIFIER_LENGTH)
        with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                self.identity_url + AUTHORIZE_PATH,
                state=state,
                code_verifier=verifier,
                redirect_uri=redirect_uri,
                scope=" ".join(self.scopes),
            )
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> Grant:
        """The grant for the code of a consent. Raises WrongCredentials when Nmbrs refuses the
        code (expired, used, not ours: `invalid_grant`)."""
        with self._calling("code exchange") as oauth:
            token = oauth.fetch_token(
                self.identity_url + TOKEN_PATH,
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            )
        return self._grant(token, asked=self.scopes)

    def refresh(self, grant: Grant) -> Grant:
        """A new grant for `grant`'s refresh token, which dies at once: store what this returns
        before anything else uses the link. Raises WrongCredentials when the refresh token is
        no longer good (`invalid_grant`: expired, revoked or used before)."""
        if not grant.refresh_token:
            raise WrongCredentials("the grant has no refresh token (offline_access not granted)")
        with self._calling("refresh") as oauth:
            token = oauth.refresh_token(
                self.identity_url + TOKEN_PATH, refresh_token=grant.refresh_token
            )
        return self._grant(token, asked=grant.scopes)

    def revoke(self, grant: Grant) -> None:
        """Revoke the grant at Nmbrs (its refresh token, and with it the access tokens)."""
        token, hint = (
            (grant.refresh_token, "refresh_token")
            if grant.refresh_token
            else (grant.access_token, "access_token")
        )
        with self._calling("revocation") as oauth:
            response = oauth.revoke_token(
                self.identity_url + REVOCATION_PATH, token=token, token_type_hint=hint
            )
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"Nmbrs answered the revocation with HTTP {response.status_code}"
            )

    # -- plumbing -----------------------------------------------------------------------------

    def _oauth(self) -> OAuth2Client:
        return OAuth2Client(
            self._client_id,
            self._client_secret,
            token_endpoint_auth_method="client_secret_post",
            revocation_endpoint_auth_method="client_secret_post",
            code_challenge_method="S256",
            timeout=self._timeout,
            transport=CappedTransport(
                max_answer_bytes=self._max_answer_bytes, limits=httpx.Limits(max_connections=1)
            ),
            headers={"Accept": "application/json"},
            trust_env=False,
        )

    @contextmanager
    def _calling(self, what: str) -> Iterator[OAuth2Client]:
        """One authlib client for one call, its failures as the core's errors (never a token,
        code or secret in a message: only Nmbrs' error code)."""
        try:
            with self._oauth() as oauth:
                yield oauth
        except OAuthError as refused:
            error = str(refused.error or "unknown")[:64]
            logger.info("Nmbrs refused the %s: %s", what, error)
            if error == "invalid_grant":
                raise WrongCredentials(f"Nmbrs refused the {what}: invalid_grant") from None
            raise ProviderError(f"Nmbrs refused the {what}: {error}") from None
        except httpx.TimeoutException:
            raise ProviderUnavailable(
                f"Nmbrs' identity service did not answer in time ({what})"
            ) from None
        except httpx.HTTPStatusError as failed:
            raise ProviderUnavailable(
                f"Nmbrs' identity service answered HTTP {failed.response.status_code} ({what})"
            ) from None
        except httpx.HTTPError as failed:
            raise ProviderUnavailable(
                f"Nmbrs' identity service could not be reached ({what}: {type(failed).__name__})"
            ) from None
        except ValueError:  # authlib reads the answer as JSON
            raise ProviderUnavailable(
                f"Nmbrs' identity service sent an answer that is not JSON ({what})"
            ) from None

    def _grant(self, token: dict[str, Any], *, asked: tuple[str, ...]) -> Grant:
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderUnavailable("Nmbrs' token answer has no access token")
        if str(token.get("token_type", "Bearer")).lower() != "bearer":
            raise ProviderUnavailable("Nmbrs' token answer is not a bearer token")
        scope = token.get("scope")
        # RFC 6749 §5.1: an answer without `scope` grants what was asked.
        scopes = tuple(scope.split()) if isinstance(scope, str) else asked
        try:
            expires_in = float(token.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        refresh_token = token.get("refresh_token")
        return Grant(
            access_token=access_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) else "",
            expires_at=self._clock() + expires_in,
            scopes=scopes,
        )
