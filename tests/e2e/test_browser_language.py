"""The texts as a Dutch customer and account manager read them in the demo, in Chromium: one
company linked of the five the login has access to, for a client whose name ends in "B.V.".

What a reader checks: one company is "één bedrijf" / "1 bedrijf", never "1 bedrijven"; the name's
full stop is not doubled at a sentence's end; the App Home writes the day out in Dutch; the
button that removes a link asks "Ja, verwijderen" / "Nee" with the word the customer sees too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.demo import Demo
from devslack.workspace import MANAGER
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, demo_companies
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import NL, Journey, message, modal

CLIENT = "Bakkerij de Vries B.V."
FIRST = demo_companies()[0].name

pytestmark = needs_chromium


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "soap"  # the customer pastes the sandbox's SOAP username and token


def start_for(journey: Journey, client: str) -> None:
    """The account manager invites `client` in the shared channel."""
    page = journey.page
    page.get_by_label("Message").fill("/onboard")
    page.keyboard.press("Enter")
    start = modal(page, NL.text("manager.start.title"))
    page.get_by_label(NL.text("manager.start.client_label")).fill(client)
    start.get_by_role("button", name=NL.text("manager.start.submit")).click()
    posted = modal(page, NL.text("manager.result.title_started"))
    posted.get_by_role("button", name=NL.text("manager.result.close")).click()


def test_one_company_of_a_bv_reads_as_dutch_in_the_invite_the_reports_and_the_app_home(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="language-", every_step=False)
    start_for(journey, CLIENT)
    preparation = journey.customer_accepts_the_terms()
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()
    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(DEMO_USERNAME)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(DEMO_TOKEN)
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()

    companies = modal(page, NL.text("customer.modal.title_companies"))
    expect(companies).to_contain_text("De login heeft toegang tot 5 bedrijven.")
    companies.get_by_text(FIRST).click()
    companies.get_by_role("button", name=NL.text("customer.modal.submit_companies")).click()
    over_access = modal(page, NL.text("customer.modal.title_over_access"))
    expect(over_access).to_contain_text("Toegang tot 5 bedrijven; u koppelt er 1.")
    over_access.get_by_role("button", name=NL.text("customer.modal.submit_over_access")).click()
    done = modal(page, NL.text("customer.modal.title_completed"))
    journey.photograph("completed")
    done.get_by_role("button", name=NL.text("customer.modal.close")).click()

    invite = message(page, "Koppeling voltooid door")
    expect(invite).to_contain_text("één bedrijf gekoppeld.")
    expect(invite).not_to_contain_text("1 bedrijven")

    journey.become(MANAGER)
    page.get_by_role("link", name="onboarding-status").click()
    report = message(page, "koppeling klaar met 1 bedrijf:")
    expect(report).to_contain_text(FIRST)
    expect(message(page, "B.V..")).to_have_count(0)
    expect(message(page, "1 bedrijven")).to_have_count(0)
    expect(message(page, "(taal:")).to_have_count(0)
    journey.photograph("status-channel")

    page.get_by_role("link", name="Onboarding · Home").click()
    home = page.locator("#home")
    expect(home).to_contain_text(re.compile(r"1 bedrijf, gekoppeld op \d{1,2} [a-z]+ \d{4}"))
    home.get_by_role("button", name=NL.text("manager.home.unlink")).click()
    confirm = page.get_by_role("alertdialog", name=NL.text("manager.home.unlink_confirm_title"))
    expect(confirm.get_by_role("button", name="Ja, verwijderen")).to_be_visible()
    journey.photograph("remove-confirm")
    confirm.get_by_role("button", name="Nee").click()
    expect(home).to_contain_text("1 bedrijf, gekoppeld op")
