"""Nmbrs slow, hanging, answering HTTP 500, SOAP faults of every code, garbage or refusing the
connection, at each step that calls it (the credential check, check again, linking the chosen
companies): the customer sees a clear screen, the stored onboarding matches it, and once Nmbrs
is healthy again the customer gets on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
)
from devslack import SlackUser
from devslack.world import View
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    GARBAGE,
    HANG,
    HTTP_500,
    PERMISSIONS_OFF_USERNAME,
    InjectedFault,
    SandboxHandle,
    soap_fault,
)
from tests.e2e.journey import (
    WORKING_TITLES,
    ServedBot,
    enter_credentials,
    invite_says,
    settled,
    to_credentials,
)
from tests.faults.proxy import TcpProxy

ALL_COMPANIES = ["48201", "48202", "48203", "48204", "48205"]

# What the customer is shown after the fault, by kind of fault.
FINE = "fine"  # slow, but within the timeouts
UNAVAILABLE = "Nmbrs unavailable"
WRONG_CREDENTIALS = "wrong credentials"
PERMISSIONS = "Permissions missing"
NO_COMPANIES = "No companies"
HANDOFF = "We'll help you"


@dataclass(frozen=True)
class Fault:
    name: str
    shown: str
    nmbrs_fault: InjectedFault | None = None
    refused: bool = False  # the connection to Nmbrs is refused
    latency: float = 0.0

    def inject(self, nmbrs: SandboxHandle, line: TcpProxy, username: str) -> None:
        account = nmbrs.accounts[username]
        account.latency = self.latency
        if self.nmbrs_fault is not None:
            account.fail(self.nmbrs_fault)
        if self.refused:
            line.cut()

    @staticmethod
    def heal(nmbrs: SandboxHandle, line: TcpProxy, username: str) -> None:
        account = nmbrs.accounts[username]
        account.heal()
        account.latency = 0.0
        if not line.is_up:
            line.restore()


SOAP_FAULTS = {
    1001: WRONG_CREDENTIALS,
    1002: PERMISSIONS,
    1003: NO_COMPANIES,
    1004: HANDOFF,
    2003: NO_COMPANIES,
    2004: NO_COMPANIES,
    2009: NO_COMPANIES,
    2043: UNAVAILABLE,
    9999: UNAVAILABLE,
}
FAULTS = [
    Fault("slow", FINE, latency=0.1),
    Fault("hanging", UNAVAILABLE, HANG),
    Fault("HTTP 500", UNAVAILABLE, HTTP_500),
    Fault("garbage XML", UNAVAILABLE, GARBAGE),
    Fault("connection refused", UNAVAILABLE, refused=True),
    *(Fault(f"SOAP fault {code}", shown, soap_fault(code)) for code, shown in SOAP_FAULTS.items()),
]
IDS = [fault.name for fault in FAULTS]
# The database sees the same transitions for every fault with the same screen, so PostgreSQL
# runs one of each; SQLite runs them all.
ONE_OF_EACH_SCREEN = {
    "slow",
    "HTTP 500",
    *(f"SOAP fault {code}" for code in (1001, 1002, 1003, 1004)),
}


@pytest.fixture(autouse=True)
def one_fault_per_screen_on_postgresql(
    request: pytest.FixtureRequest, module_database_url: str
) -> None:
    fault = request.node.callspec.params["fault"]
    if module_database_url.startswith("postgresql") and fault.name not in ONE_OF_EACH_SCREEN:
        pytest.skip("a fault with the same screen runs on PostgreSQL; all of them on SQLite")


def shows(view: View, shown: str) -> bool:
    if shown == FINE:
        return view.callback_id == CALLBACK_COMPANIES
    if shown == WRONG_CREDENTIALS:
        return view.callback_id == CALLBACK_CREDENTIALS and "token is incorrect" in view.text()
    if shown == HANDOFF:
        return view.title == HANDOFF and "(the API)" in view.text()
    return view.title == shown


# The stored onboarding behind each screen: its state and whether a token is kept (encrypted).
STORED = {
    FINE: ("credentials_verified", True),
    UNAVAILABLE: ("terms_accepted", True),  # kept unverified, so "try again" needs no new paste
    WRONG_CREDENTIALS: ("terms_accepted", False),
    PERMISSIONS: ("credentials_verified", True),
    NO_COMPANIES: ("credentials_verified", True),
    HANDOFF: ("handoff", False),
}


def next_screen(person: SlackUser, shown: View) -> View:
    """The screen that replaced `shown` once the bot finished working."""
    return person.wait_for_modal(
        lambda view: view.hash != shown.hash and view.title not in WORKING_TITLES
    )


def stored(bot: ServedBot, onboarding_id: int) -> tuple[str, bool]:
    onboarding = bot.onboarding(onboarding_id)
    return onboarding.state, onboarding.pending_token is not None


def retry(person: SlackUser, view: View, shown: str, username: str, token: str) -> View:
    """What the customer does once Nmbrs works again, ending on the company choice."""
    if shown == WRONG_CREDENTIALS:
        return enter_credentials(person, username, token)
    if shown in (UNAVAILABLE, PERMISSIONS, NO_COMPANIES):
        person.click(view, ACTION_CHECK_AGAIN)
        return settled(person, CALLBACK_COMPANIES)
    return view


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_a_fault_during_the_credential_check(
    served: ServedBot, contact: SlackUser, nmbrs: SandboxHandle, nmbrs_line: TcpProxy, fault
) -> None:
    onboarding_id = served.invite(language="en")
    to_credentials(contact)
    fault.inject(nmbrs, nmbrs_line, DEMO_USERNAME)
    screen = enter_credentials(contact, DEMO_USERNAME, DEMO_TOKEN)
    assert shows(screen, fault.shown), screen.text()
    assert stored(served, onboarding_id) == STORED[fault.shown]

    fault.heal(nmbrs, nmbrs_line, DEMO_USERNAME)
    if fault.shown == HANDOFF:  # ended: a person takes over, as the invite now says
        invite_says(contact, "We will call you")
        return
    companies = retry(contact, screen, fault.shown, DEMO_USERNAME, DEMO_TOKEN)
    assert "The login has access to 5 companies" in companies.text()
    assert stored(served, onboarding_id) == ("credentials_verified", True)


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_a_fault_when_checking_again(
    served: ServedBot, contact: SlackUser, nmbrs: SandboxHandle, nmbrs_line: TcpProxy, fault
) -> None:
    """After fixing the permissions in Nmbrs, the customer checks again and Nmbrs fails."""
    account = nmbrs.accounts[PERMISSIONS_OFF_USERNAME]
    onboarding_id = served.invite(language="en")
    to_credentials(contact)
    permissions = enter_credentials(contact, account.username, account.token)
    assert shows(permissions, PERMISSIONS)
    account.switch_on(*account.permissions_off)
    fault.inject(nmbrs, nmbrs_line, account.username)
    contact.click(permissions, ACTION_CHECK_AGAIN)
    screen = next_screen(contact, permissions)
    assert shows(screen, fault.shown), screen.text()
    state, token_kept = STORED[fault.shown]
    # A failed re-check keeps the verified step; only wrong credentials and 1004 go back.
    if fault.shown == UNAVAILABLE:
        state = "credentials_verified"
    assert stored(served, onboarding_id) == (state, token_kept)

    fault.heal(nmbrs, nmbrs_line, account.username)
    if fault.shown == HANDOFF:
        invite_says(contact, "We will call you")
        return
    companies = retry(contact, screen, fault.shown, account.username, account.token)
    assert "The login has access to 3 companies" in companies.text()


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_a_fault_while_linking_the_chosen_companies(
    served: ServedBot, contact: SlackUser, nmbrs: SandboxHandle, nmbrs_line: TcpProxy, fault
) -> None:
    """Linking looks up the companies' GUIDs; when that fails nothing is linked and the choice
    is kept for the retry."""
    onboarding_id = served.invite(language="en")
    to_credentials(contact)
    companies = enter_credentials(contact, DEMO_USERNAME, DEMO_TOKEN)
    contact.fill(companies, {ACTION_COMPANIES: ALL_COMPANIES})
    fault.inject(nmbrs, nmbrs_line, DEMO_USERNAME)
    contact.submit(companies)
    screen = settled(contact)
    if fault.shown == FINE:
        assert screen.title == "Connected"
        assert link_count(served, onboarding_id) == 1
        return
    assert screen.title == UNAVAILABLE, screen.text()
    assert stored(served, onboarding_id) == ("credentials_verified", True)
    assert link_count(served, onboarding_id) == 0

    fault.heal(nmbrs, nmbrs_line, DEMO_USERNAME)
    contact.click(screen, ACTION_CHECK_AGAIN)
    again = settled(contact, CALLBACK_COMPANIES)
    element = next(b["element"] for b in again.blocks if b.get("type") == "input")
    assert [option["value"] for option in element["initial_options"]] == ALL_COMPANIES
    contact.submit(again)
    assert settled(contact).title == "Connected"
    assert link_count(served, onboarding_id) == 1


def link_count(bot: ServedBot, onboarding_id: int) -> int:
    with bot.container.unit_of_work() as uow:
        return 0 if uow.links.for_onboarding(onboarding_id) is None else 1
