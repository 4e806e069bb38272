"""Fixtures of the link use case tests: the Nmbrs sandbox and a world around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.sandbox import (
    SandboxHandle,
    demo_accounts,
    run_sandbox,
)
from tests.storage.scratch import ScratchStorage

# The REST onboarding's fixtures (the fake Nmbrs REST API and a world around it).
from tests.usecases.consent_world import (  # noqa: F401
    consent_world,
    rest_redirect_uri,
)
from tests.usecases.link_world import World, make_world


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with run_sandbox() as handle:
        yield handle


@pytest.fixture
def nmbrs(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.accounts.reset(demo_accounts())
    sandbox.clear_calls()
    return sandbox


@pytest.fixture
def world(nmbrs: SandboxHandle) -> Iterator[World]:
    provider = SoapNmbrsProvider(nmbrs.base_url)
    with ScratchStorage() as storage:
        yield make_world(nmbrs, storage, provider)
    provider.close()
