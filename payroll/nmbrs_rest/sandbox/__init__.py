"""A fake Nmbrs identity service and REST API over real HTTP (loopback) for the demo and the
tests: a login page with a demo login per case, a consent page, the token endpoint, revocation,
and the REST calls the bot makes, with paging, scopes, Nmbrs' error bodies, faults and latency.

    with run_rest_sandbox(redirect_uris=["http://127.0.0.1:8000/nmbrs/callback"]) as nmbrs:
        ...  # NMBRS_IDENTITY_URL = NMBRS_REST_URL = nmbrs.base_url
        nmbrs.fail(api_error(42908, times=2), "companies")
"""

from payroll.nmbrs_rest.sandbox.server import SandboxHandle, create_app, run_rest_sandbox
from payroll.nmbrs_rest.sandbox.world import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    ENABLED_SCOPES,
    FINE_LOGIN,
    GARBAGE,
    HANG,
    MANY_COMPANIES,
    MANY_COMPANIES_LOGIN,
    MASTER_LOGIN,
    NARROW_LOGIN,
    NARROW_UNTICKS,
    NO_COMPANIES_LOGIN,
    TWO_DEBTORS_LOGIN,
    InjectedFault,
    RecordedCall,
    SandboxApp,
    SandboxCompany,
    SandboxDebtor,
    SandboxLogin,
    api_error,
    company_guid,
    debtor,
    demo_companies,
    demo_logins,
    html_error,
    many_companies,
)

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_SUBSCRIPTION_KEY",
    "ENABLED_SCOPES",
    "FINE_LOGIN",
    "GARBAGE",
    "HANG",
    "MANY_COMPANIES",
    "MANY_COMPANIES_LOGIN",
    "MASTER_LOGIN",
    "NARROW_LOGIN",
    "NARROW_UNTICKS",
    "NO_COMPANIES_LOGIN",
    "TWO_DEBTORS_LOGIN",
    "InjectedFault",
    "RecordedCall",
    "SandboxApp",
    "SandboxCompany",
    "SandboxDebtor",
    "SandboxHandle",
    "SandboxLogin",
    "api_error",
    "company_guid",
    "create_app",
    "debtor",
    "demo_companies",
    "demo_logins",
    "html_error",
    "many_companies",
    "run_rest_sandbox",
]
