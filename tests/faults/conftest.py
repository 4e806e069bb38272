"""The served bot talks to the Nmbrs sandbox through a TCP proxy (to refuse connections at will)
with short timeouts, so a hanging Nmbrs costs three seconds, not twenty. Shorter flakes: on a busy
2-core machine a full check through the proxy can take over a second and a half (the 22 probes are
parsed at once), and a connect on loopback can wait for a retried SYN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from devslack import DevSlack, SlackUser
from payroll.nmbrs_soap.sandbox import SandboxHandle
from tests.e2e.journey import CUSTOMER
from tests.faults.proxy import TcpProxy, tcp_proxy

NMBRS_CONNECT_TIMEOUT = 1.5
NMBRS_READ_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def nmbrs_line(sandbox: SandboxHandle) -> Iterator[TcpProxy]:
    """The line between the bot and Nmbrs; `cut()` it to refuse connections."""
    address = urlsplit(sandbox.base_url)
    with tcp_proxy(address.hostname or "127.0.0.1", address.port or 80) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def setting_overrides(nmbrs_line: TcpProxy) -> dict[str, Any]:
    return {
        "nmbrs_base_url": f"http://127.0.0.1:{nmbrs_line.port}",
        "nmbrs_connect_timeout": NMBRS_CONNECT_TIMEOUT,
        "nmbrs_read_timeout": NMBRS_READ_TIMEOUT,
    }


@pytest.fixture
def nmbrs(nmbrs: SandboxHandle, nmbrs_line: TcpProxy) -> Iterator[SandboxHandle]:
    """The sandbox with its demo accounts, and the line to it up again after the test."""
    yield nmbrs
    if not nmbrs_line.is_up:
        nmbrs_line.restore()


@pytest.fixture
def contact(module_slack: DevSlack) -> Iterator[SlackUser]:
    """The customer of the module's shared fake Slack, with no modal left open."""
    person = module_slack.user(CUSTOMER)
    if person.modal is not None:
        module_slack.world.close_view(CUSTOMER, person.modal.id, everything=True)
    yield person
