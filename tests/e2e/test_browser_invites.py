"""The invites in a browser, as the customer and the account manager check them: the modal
says its step, an invite posted again leaves no second live button, with rights switched off
the invite says what waits for the customer instead of showing progress, an unlinked link's
invite says so, and companies another client linked already are pointed out."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.demo import Demo
from devslack.workspace import CUSTOMER, MANAGER
from payroll.nmbrs_soap.sandbox import (
    DEMO_PERMISSIONS_OFF,
    DEMO_TOKEN,
    DEMO_USERNAME,
    demo_companies,
)
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import CLIENT, NL, Journey, message, modal

COMPANIES = [company.name for company in demo_companies()]

PERMISSIONS_OFF_LOGIN = ("rechten@voorbeeld.nl", "3a8d1f5c9e2b47d6b0a4e8c1f7d25b94")

pytestmark = needs_chromium


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "soap"  # the customer pastes a SOAP login whose template has rights off


def test_a_resent_invite_leaves_one_live_button_and_rights_off_say_what_waits(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="invites-", every_step=False)
    journey.manager_starts_the_onboarding()
    preparation = journey.customer_accepts_the_terms()
    expect(preparation).to_contain_text("Stap 2 van 5")
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()

    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    expect(credentials).to_contain_text("Stap 2 van 5")
    username, token = PERMISSIONS_OFF_LOGIN
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(username)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(token)
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()
    permissions = modal(page, NL.text("customer.modal.title_permissions"))
    expect(permissions).to_contain_text("Stap 3 van 5")
    permissions.get_by_role("button", name=NL.text("customer.modal.check_again")).click()
    again = modal(page, NL.text("customer.modal.title_permissions"))
    expect(again).to_contain_text("Opnieuw gecontroleerd om")
    again.get_by_role("button", name=NL.text("customer.modal.close")).click()

    count = len(DEMO_PERMISSIONS_OFF)
    invite = message(page, CLIENT)
    expect(invite).to_contain_text(f"Wacht op u: zet in Nmbrs nog {count} API-rechten aan")
    expect(invite).not_to_contain_text("bedrijven kiezen")
    contact = demo.slack.workspace.users[CUSTOMER].real_name
    expect(invite).to_contain_text(f"Voor @{contact}")

    journey.become(MANAGER)
    page.get_by_role("link", name="Onboarding · Home").click()
    page.locator("#home").get_by_role("button", name=NL.text("manager.home.resend")).click()
    page.get_by_role("link", name="bakkerij-de-vries-payroll").click()
    older = message(page, NL.text("customer.invite.superseded.resent"))
    expect(older).to_have_count(1, timeout=10_000)
    expect(older.get_by_role("button")).to_have_count(0)
    live = page.get_by_role("button", name=NL.text("customer.invite.continue"))
    expect(live).to_have_count(1)

    page.get_by_role("link", name="Onboarding · Home").click()
    page.locator("#home").get_by_role("button", name=NL.text("manager.home.cancel")).click()
    confirm = page.locator("#confirm")
    confirm.get_by_role("button", name=NL.text("manager.home.confirm_cancel"), exact=True).click()
    page.get_by_role("link", name="bakkerij-de-vries-payroll").click()
    expect(message(page, NL.text("customer.invite.status.cancelled"))).to_have_count(
        2, timeout=10_000
    )
    expect(page.get_by_role("button", name=NL.text("customer.invite.continue"))).to_have_count(0)


def test_an_unlinked_link_leaves_no_live_buttons_and_companies_linked_twice_are_pointed_out(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="invites-twice-", every_step=False)
    journey.manager_starts_the_onboarding()
    journey.customer_accepts_the_terms().get_by_role(
        "button", name=NL.text("customer.modal.submit_preparation")
    ).click()
    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(DEMO_USERNAME)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(DEMO_TOKEN)
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()
    companies = modal(page, NL.text("customer.modal.title_companies"))
    expect(companies).not_to_contain_text("Let op:")
    journey.customer_links(companies, COMPANIES)

    # A second onboarding in the channel sees the same companies: the choice says so.
    journey.become(MANAGER)
    journey.manager_starts_the_onboarding()
    journey.customer_accepts_the_terms().get_by_role(
        "button", name=NL.text("customer.modal.submit_preparation")
    ).click()
    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(DEMO_USERNAME)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(DEMO_TOKEN)
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()
    companies = modal(page, NL.text("customer.modal.title_companies"))
    expect(companies).to_contain_text(
        f"Let op: {len(COMPANIES)} van deze bedrijven zijn bij ons al gekoppeld"
    )
    companies.get_by_role("button", name=NL.text("customer.modal.close")).click()

    # The account manager unlinks the first link: its invite says so, without buttons.
    journey.become(MANAGER)
    page.get_by_role("link", name="Onboarding · Home").click()
    page.locator("#home").get_by_role("button", name=NL.text("manager.home.unlink")).click()
    confirm = page.locator("#confirm")
    confirm.get_by_role("button", name=NL.text("manager.home.confirm_unlink"), exact=True).click()
    page.get_by_role("link", name="bakkerij-de-vries-payroll").click()
    unlinked = message(page, NL.text("customer.invite.status.unlinked"))
    expect(unlinked).to_have_count(1, timeout=10_000)
    expect(unlinked.get_by_role("button")).to_have_count(0)
    expect(message(page, "Koppeling voltooid")).to_have_count(0)
    name = NL.text("links.button.change_companies")
    expect(page.get_by_role("button", name=name)).to_have_count(0)
