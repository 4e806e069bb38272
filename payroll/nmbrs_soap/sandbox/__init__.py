"""An embedded Nmbrs SOAP v3 server (real HTTP on loopback) for the demo and the tests.

Start it with `run_sandbox()`, point `SoapNmbrsClient` (or NMBRS_BASE_URL) at the handle's
`base_url`, and change accounts while it runs, e.g.
`sandbox.accounts[DEMO_USERNAME].switch_off("CompanyService.WageTax_GetXML")`.
"""

from payroll.nmbrs_soap.sandbox.accounts import (
    DEMO_PERMISSIONS_OFF,
    DEMO_TOKEN,
    DEMO_USERNAME,
    EVERY_OPERATION,
    GARBAGE,
    HANG,
    HTTP_500,
    MANY_COMPANIES_USERNAME,
    NO_COMPANIES_USERNAME,
    NO_SUBSCRIPTION_USERNAME,
    OPERATIONS,
    PERMISSIONS_OFF_USERNAME,
    AccountRegistry,
    InjectedFault,
    SandboxAccount,
    SandboxCompany,
    demo_accounts,
    demo_companies,
    many_companies,
    soap_fault,
)
from payroll.nmbrs_soap.sandbox.answers import FAULT_TEXTS, RecordedCall, StartedReport
from payroll.nmbrs_soap.sandbox.server import SandboxHandle, run_sandbox

__all__ = [
    "DEMO_PERMISSIONS_OFF",
    "DEMO_TOKEN",
    "DEMO_USERNAME",
    "EVERY_OPERATION",
    "FAULT_TEXTS",
    "GARBAGE",
    "HANG",
    "HTTP_500",
    "MANY_COMPANIES_USERNAME",
    "NO_COMPANIES_USERNAME",
    "NO_SUBSCRIPTION_USERNAME",
    "OPERATIONS",
    "PERMISSIONS_OFF_USERNAME",
    "AccountRegistry",
    "InjectedFault",
    "RecordedCall",
    "SandboxAccount",
    "SandboxCompany",
    "SandboxHandle",
    "StartedReport",
    "demo_accounts",
    "demo_companies",
    "many_companies",
    "run_sandbox",
    "soap_fault",
]
