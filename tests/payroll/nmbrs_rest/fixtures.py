"""The fake Nmbrs REST API (identity service and API over real HTTP) as pytest fixtures, for
every test that needs it (a plugin: tests/conftest.py registers it).

`running_rest_sandbox` is one fake Nmbrs per test module; `rest_nmbrs` resets it for each test.
The callback it accepts is `rest_redirect_uri`: a folder or module overrides that fixture where
its bot has another public URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from payroll.nmbrs_rest.provider import RestNmbrsProvider
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    SandboxHandle,
    demo_logins,
    run_rest_sandbox,
)

# Nobody listens here: the browser stand-in reads the redirect instead of following it.
CALLBACK = "http://127.0.0.1:9/nmbrs/callback"


@pytest.fixture(scope="module")
def rest_redirect_uri() -> str:
    return CALLBACK


@pytest.fixture(scope="module")
def running_rest_sandbox(rest_redirect_uri: str) -> Iterator[SandboxHandle]:
    with run_rest_sandbox(redirect_uris=[rest_redirect_uri]) as handle:
        yield handle


@pytest.fixture
def rest_nmbrs(running_rest_sandbox: SandboxHandle, rest_redirect_uri: str) -> SandboxHandle:
    """The fake Nmbrs REST API, as new: demo logins, no faults, no latency, no calls yet."""
    sandbox = running_rest_sandbox
    sandbox.state.reset(demo_logins())
    sandbox.app.redirect_uris[:] = [rest_redirect_uri]
    sandbox.heal()
    sandbox.latency = 0.0
    sandbox.state.offset = 0.0
    sandbox.clear_calls()
    return sandbox


def demo_rest_provider(nmbrs: SandboxHandle, **options: Any) -> RestNmbrsProvider:
    """The REST provider of the sandbox's demo app, pointed at `nmbrs` with short timeouts
    (loopback); `options` are the provider's other keywords (ask_user_info, clock, sleep)."""
    options = {"connect_timeout": 1.0, "read_timeout": 5.0} | options
    return RestNmbrsProvider(
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        subscription_key=DEMO_SUBSCRIPTION_KEY,
        rest_url=nmbrs.base_url,
        identity_url=nmbrs.base_url,
        **options,
    )
