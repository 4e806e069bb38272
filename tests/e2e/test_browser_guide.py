"""The walks the account managers' guide (docs/account-managers.md) shows beside the happy path:
a customer stuck on a wrong token, a block and permissions switched off, and what the account
manager sees of it (`/onboard status`, the App Home); a customer whose payroll package is not
Nmbrs; and the 5,000 companies' type-ahead.

Each walk is photographed as `guide-*.png`; with UPDATE_SCREENSHOTS=1 the pictures replace the
ones in docs/screenshots/ that the guide shows, otherwise they go to a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from bot.core.flow import MAX_FAILED_ATTEMPTS
from bot.demo import Demo
from devslack.workspace import CUSTOMER, MANAGER, SHARED_CHANNEL
from payroll.nmbrs_soap.sandbox import (
    DEMO_USERNAME,
    MANY_COMPANIES_USERNAME,
    PERMISSIONS_OFF_USERNAME,
)
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import CLIENT, NL, Journey, message, modal

WRONG_TOKEN = "0123456789abcdef0123456789abcdef"

pytestmark = needs_chromium


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "soap"  # the token, its checks and the permissions are the SOAP path's


def enter_credentials(page: Page, username: str, token: str) -> None:
    """Submits the credentials screen and waits for it to be replaced (the stand-in draws every
    new screen as a new dialog), also when the next screen has the same title."""
    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(username)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(token)
    shown = credentials.element_handle()
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()
    shown.wait_for_element_state("hidden")


def to_credentials(journey: Journey) -> None:
    preparation = journey.customer_accepts_the_terms()
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()


def close(dialog: Locator) -> None:
    dialog.get_by_role("button", name=NL.text("customer.modal.close")).click()
    expect(dialog).to_have_count(0)


def test_a_customer_stuck_on_tokens_and_permissions_and_what_the_account_manager_sees(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="guide-stuck-", every_step=False)
    journey.manager_starts_the_onboarding()
    to_credentials(journey)

    # A wrong token: the credentials screen again, saying so.
    enter_credentials(page, DEMO_USERNAME, WRONG_TOKEN)
    wrong = modal(page, NL.text("customer.modal.title_credentials"))
    expect(wrong).to_contain_text(NL.text("customer.credentials.wrong_lead"))
    journey.photograph("wrong-token")

    # Four more in a row block the onboarding for an hour.
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        enter_credentials(page, DEMO_USERNAME, WRONG_TOKEN)
        page.get_by_role("dialog", name=NL.text("customer.modal.title_credentials")).or_(
            page.get_by_role("dialog", name=NL.text("customer.modal.title_blocked"))
        ).wait_for()
    blocked = modal(page, NL.text("customer.modal.title_blocked"))
    journey.photograph("blocked")
    close(blocked)

    # The account manager: `/onboard status` in the channel, the block in the App Home.
    journey.become(MANAGER)
    page.get_by_label("Message").fill("/onboard status")
    page.keyboard.press("Enter")
    status = message(page, NL.text("manager.status.title_lead"), CLIENT)
    expect(status).to_have_count(1)
    journey.photograph("onboard-status")
    page.get_by_role("link", name="Onboarding · Home").click()
    home = page.locator("#home")
    lift = home.get_by_role("button", name=NL.text("manager.home.lift"))
    expect(lift).to_have_count(1)
    journey.photograph("app-home-blocked")
    lift.click()
    expect(home.get_by_role("button", name=NL.text("manager.home.lift"))).to_have_count(0)

    # Unblocked, the customer goes on with a login whose template has permissions off.
    channel = demo.slack.workspace.channels[SHARED_CHANNEL].name
    page.get_by_role("link", name=channel).click()
    journey.become(CUSTOMER)
    message(page, CLIENT).last.get_by_role(
        "button", name=NL.text("customer.invite.continue")
    ).click()
    enter_credentials(
        page, PERMISSIONS_OFF_USERNAME, demo.nmbrs.accounts[PERMISSIONS_OFF_USERNAME].token
    )
    permissions = modal(page, NL.text("customer.modal.title_permissions"))
    expect(
        permissions.get_by_role("button", name=NL.text("customer.modal.check_again"))
    ).to_be_visible()
    journey.photograph("permissions-off")


def test_a_customer_whose_package_is_not_nmbrs_is_handed_to_the_account_manager(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="guide-handoff-", every_step=False)
    journey.manager_starts_the_onboarding()
    journey.become(CUSTOMER)
    message(page, CLIENT).get_by_role("button", name=NL.text("customer.invite.start")).click()
    terms = modal(page, NL.text("customer.modal.title_terms"))
    terms.get_by_text(NL.text("customer.terms.option")).click()
    terms.get_by_placeholder(NL.text("customer.terms.package_placeholder")).click()
    page.get_by_role("option", name=NL.text("customer.terms.packages.loket")).click()
    terms.get_by_role("button", name=NL.text("customer.modal.submit_terms")).click()

    handoff = modal(page, NL.text("customer.modal.title_handoff"))
    expect(handoff).to_contain_text(demo.settings.support_phone)
    journey.photograph("customer")
    close(handoff)

    journey.become(MANAGER)
    page.get_by_role("link", name="Onboarding · Home").click()
    expect(page.locator("#home")).to_contain_text(NL.text("manager.home.title"))
    journey.photograph("app-home")


def test_a_customer_finds_bakeries_among_five_thousand_companies_by_typing(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="guide-many-", every_step=False)
    journey.manager_starts_the_onboarding()
    to_credentials(journey)
    enter_credentials(
        page, MANY_COMPANIES_USERNAME, demo.nmbrs.accounts[MANY_COMPANIES_USERNAME].token
    )

    companies = modal(page, NL.text("customer.modal.title_companies"))
    companies.get_by_role("combobox").press_sequentially("bakkerij jansen")
    expect(page.get_by_role("option", name="Bakkerij Jansen Amsterdam B.V. (1)")).to_be_visible()
    expect(page.get_by_role("option")).to_have_count(5)
    journey.photograph("type-ahead")
