"""Fixtures for the Nmbrs REST provider: the fake identity service and API over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from payroll.nmbrs_rest.sandbox import (
    SandboxHandle,
    demo_logins,
    run_rest_sandbox,
)

# Nobody listens here: the browser stand-in reads the redirect instead of following it.
CALLBACK = "http://127.0.0.1:9/nmbrs/callback"


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[SandboxHandle]:
    """One fake Nmbrs per test module; `nmbrs` resets it for each test."""
    with run_rest_sandbox(redirect_uris=[CALLBACK]) as handle:
        yield handle


@pytest.fixture
def nmbrs(running_sandbox: SandboxHandle) -> SandboxHandle:
    running_sandbox.state.reset(demo_logins())
    running_sandbox.app.redirect_uris[:] = [CALLBACK]
    running_sandbox.heal()
    running_sandbox.latency = 0.0
    running_sandbox.state.offset = 0.0
    running_sandbox.clear_calls()
    return running_sandbox
