"""Fixtures for the Nmbrs REST provider: the fake identity service and API over real HTTP
(tests/payroll/nmbrs_rest/fixtures.py), and the identity, API client and provider pointed at it,
with waits recorded instead of slept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from payroll.nmbrs_rest.client import RestNmbrsClient
from payroll.nmbrs_rest.identity import NmbrsIdentity
from payroll.nmbrs_rest.model import Grant
from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    SandboxHandle,
)
from tests.payroll.nmbrs_rest.fixtures import CALLBACK, demo_rest_provider

__all__ = ["CALLBACK", "consented_grant"]


@pytest.fixture
def nmbrs(rest_nmbrs: SandboxHandle) -> SandboxHandle:
    """Here Nmbrs is the REST one, reset for each test."""
    return rest_nmbrs


@dataclass
class Waits:
    """Stands in for `time.sleep` and the jitter: records each wait, jitter is `fraction`."""

    fraction: float = 0.5
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def jitter(self) -> float:
        return self.fraction


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def identity(nmbrs: SandboxHandle) -> NmbrsIdentity:
    return NmbrsIdentity(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        identity_url=nmbrs.base_url,
        connect_timeout=1.0,
        read_timeout=5.0,
    )


@pytest.fixture
def client(nmbrs: SandboxHandle, waits: Waits) -> Iterator[RestNmbrsClient]:
    api = RestNmbrsClient(
        DEMO_SUBSCRIPTION_KEY,
        rest_url=nmbrs.base_url,
        connect_timeout=1.0,
        read_timeout=5.0,
        sleep=waits.sleep,
        jitter=waits.jitter,
    )
    yield api
    api.close()


@pytest.fixture
def provider(nmbrs: SandboxHandle) -> Iterator[RestNmbrsProvider]:
    rest = demo_rest_provider(nmbrs)
    yield rest
    rest.close()


def consented_grant(
    nmbrs: SandboxHandle, identity: NmbrsIdentity, login: str = FINE_LOGIN
) -> Grant:
    """The grant of `login` approving everything `identity` asks."""
    request = identity.authorization_request(redirect_uri=CALLBACK, state="a-state")
    back = nmbrs.consent(request.url, login)
    return identity.exchange_code(
        back["code"], redirect_uri=CALLBACK, code_verifier=request.code_verifier
    )
