"""The client keeps one rate limiter per Nmbrs account it called, and forgets the idle ones once
it knows many: the daily verification meets every linked account."""

from __future__ import annotations

import payroll.nmbrs_soap.client as soap_client
from payroll.nmbrs_soap.client import SoapNmbrsClient
from payroll.nmbrs_soap.model import Credentials
from payroll.nmbrs_soap.sandbox import SandboxAccount, demo_companies, run_sandbox

TOKEN = "0123456789abcdef0123456789abcdef"


def test_past_the_limiters_kept_the_idle_accounts_are_forgotten(monkeypatch):
    monkeypatch.setattr(soap_client, "LIMITERS_KEPT", 3)
    accounts = [
        SandboxAccount(f"klant{n}@voorbeeld.nl", TOKEN, "voorbeeld", demo_companies())
        for n in range(5)
    ]
    with run_sandbox(accounts) as sandbox:
        clock = [1000.0]
        client = SoapNmbrsClient(sandbox.base_url, clock=lambda: clock[0])
        try:
            for account in accounts[:3]:
                client.check_credentials(Credentials(account.username, TOKEN))
            assert client.accounts_limited == 3
            clock[0] += 2  # the three are idle now
            client.check_credentials(Credentials(accounts[3].username, TOKEN))
            client.check_credentials(Credentials(accounts[4].username, TOKEN))
            assert client.accounts_limited == 2
        finally:
            client.close()
