"""The demo's REST journey in a browser: the stack `make demo` starts with NMBRS_API=rest (the
Nmbrs SOAP sandbox, the fake Nmbrs identity service and REST API, the Slack stand-in and the
served bot), with an account manager and a customer clicking the whole consent in Chromium:
"Log in bij Nmbrs" opens the fake's login page in a new tab, the customer approves there, and
the modal in Slack moves on by itself.

The consent's steps are photographed; with UPDATE_SCREENSHOTS=1 the pictures replace the
`rest-*.png` ones in docs/screenshots/ that the README shows, otherwise they go to a temporary
folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.demo import Demo
from payroll.nmbrs_rest.sandbox import DEMO_CLIENT_SECRET, FINE_LOGIN, demo_companies
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import (
    NL,
    Journey,
    modal,
)

COMPANIES = [company.name for company in demo_companies()]

pytestmark = needs_chromium


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "rest"


def test_a_customer_connects_nmbrs_by_consent_in_the_demo_and_the_modal_moves_on_by_itself(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    assert demo.settings.nmbrs_api == "rest" and demo.nmbrs_rest is not None
    journey = Journey(demo, page, screenshots, prefix="rest-", every_step=False)
    journey.manager_starts_the_onboarding()

    # The customer starts, accepts the terms and reads how to prepare Nmbrs.
    preparation = journey.customer_accepts_the_terms()
    expect(preparation).not_to_contain_text("WageTax_GetXML")  # no SOAP permissions to tick
    journey.photograph("preparation")
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()

    # "Log in bij Nmbrs" is a link: the fake's login page opens in a new tab.
    consent = modal(page, NL.text("customer.modal.title_consent"))
    login = consent.get_by_role("link", name=NL.text("customer.consent.login_button"))
    assert login.get_attribute("href").startswith(f"{demo.settings.public_url}/nmbrs/start?t=")
    journey.photograph("consent-screen")
    with page.context.expect_page() as opened:
        login.click()
    nmbrs = opened.value
    nmbrs.wait_for_load_state()
    assert nmbrs.url.startswith(f"{demo.nmbrs_rest.base_url}/connect/authorize?")
    expect(nmbrs.get_by_role("heading", name="Inloggen bij Nmbrs (sandbox)")).to_be_visible()
    journey.photograph("nmbrs-login", nmbrs)
    nmbrs.get_by_role("button", name=FINE_LOGIN).click()
    expect(nmbrs.get_by_role("heading", name="Toestemming geven")).to_be_visible()
    journey.photograph("nmbrs-consent", nmbrs)
    nmbrs.get_by_role("button", name="Toestaan").click()

    # Back at the bot: a page with nothing on it but "you can go back".
    expect(nmbrs.get_by_text(NL.text("customer.consent_page.done"))).to_be_visible()
    assert nmbrs.url.startswith(f"{demo.settings.public_url}/nmbrs/callback?")
    for company in COMPANIES:
        expect(nmbrs.locator("body")).not_to_contain_text(company)
    journey.photograph("back-to-slack", nmbrs)
    nmbrs.close()

    # The modal in the stand-in moved on by itself, naming the debtor approved for (who
    # approved only with NMBRS_ASK_USER_INFO on).
    page.bring_to_front()
    companies = modal(page, NL.text("customer.modal.title_companies"))
    expect(companies).to_contain_text("Goedgekeurd voor")
    expect(companies).to_contain_text("Voorbeeld Administratie")
    journey.photograph("companies-by-itself")
    journey.customer_links(companies, COMPANIES)
    journey.reports_are_posted(COMPANIES)

    listed = journey.listed_links()
    assert '"provider": "nmbrs-rest"' in listed and '"id": null' in listed
    assert DEMO_CLIENT_SECRET not in listed
