"""The demo in a browser: the stack `make demo` starts (its stages from bot.demo, the Nmbrs
sandbox, the Slack stand-in and the served bot with its outbox worker and scheduler), with an
account manager and a customer clicking through a whole onboarding in Debian's Chromium.

Every step is photographed; with UPDATE_SCREENSHOTS=1 the pictures replace the ones in
docs/screenshots/ that the README shows, otherwise they go to a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.demo import Demo
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, demo_companies
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import (
    CLIENT,
    NL,
    Journey,
    modal,
)

COMPANIES = [company.name for company in demo_companies()]

pytestmark = needs_chromium


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "soap"  # this journey pastes a SOAP username and token


def test_a_manager_and_a_customer_click_through_a_whole_onboarding_in_the_demo(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots)
    journey.manager_starts_the_onboarding()
    preparation = journey.customer_accepts_the_terms()

    expect(preparation).to_contain_text(NL.text("customer.consent.data.salaries"))
    expect(preparation).not_to_contain_text("WageTax_GetXML")
    journey.photograph("nmbrs-preparation")
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()

    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(DEMO_USERNAME)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(DEMO_TOKEN)
    journey.photograph("credentials")
    demo.nmbrs.latency = 0.3  # long enough to see the bot at work after its ack
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()
    modal(page, NL.text("customer.modal.title_working"))
    journey.photograph("checking-at-nmbrs")
    demo.nmbrs.latency = 0.0

    journey.customer_links(modal(page, NL.text("customer.modal.title_companies")), COMPANIES)
    journey.reports_are_posted(COMPANIES)
    page.get_by_role("link", name="Onboarding · Home").click()
    expect(page.locator("#home")).to_contain_text(CLIENT)
    journey.photograph("app-home")

    listed = journey.listed_links()
    assert '"client": "Bakkerij de Vries"' in listed
    assert f'"username": "{DEMO_USERNAME}"' in listed
    assert DEMO_TOKEN not in listed
    # This journey's pictures have no prefix; other walks' (rest-, guide-) share the folder
    # under UPDATE_SCREENSHOTS=1.
    assert sorted(path.name for path in screenshots.glob("[0-9]*.png"))[-1].startswith(
        f"{journey.shot:02d}-"
    )
