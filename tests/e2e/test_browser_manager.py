"""The account manager's side in a browser, as a person would check it: an onboarding started
from the App Home's New onboarding button; a wrong package that lands on the to-do list and in
the owner's direct messages, and that the customer undoes by choosing again; and the status
channel holding one message per onboarding, its events in its thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.demo import Demo
from devslack.workspace import CUSTOMER, MANAGER
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import CLIENT, NL, Journey, message, modal

pytestmark = needs_chromium

SHARED = "bakkerij-de-vries-payroll"
MANAGER_NAME = "Anna de Boer"


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "soap"  # the package choice comes before any Nmbrs login


def test_a_wrong_package_is_a_to_do_the_customer_can_undo_and_the_status_is_one_thread(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="manager-", every_step=False)
    home = page.locator("#home")

    # The App Home's New onboarding button opens the form /onboard opens.
    page.get_by_role("link", name="Onboarding · Home").click()
    page.get_by_role("button", name=NL.text("manager.desk.new_onboarding")).click()
    start = modal(page, NL.text("manager.start.title"))
    page.get_by_label(NL.text("manager.start.client_label")).fill(CLIENT)
    page.get_by_label(NL.text("manager.start.channel_label")).click()
    page.get_by_role("option", name=f"#{SHARED}").click()
    page.get_by_label(NL.text("manager.start.contact_label")).click()
    page.get_by_role("option", name=demo.slack.workspace.users[CUSTOMER].real_name).click()
    journey.photograph("new-onboarding-from-home")
    start.get_by_role("button", name=NL.text("manager.start.submit")).click()
    posted = modal(page, NL.text("manager.result.title_started"))
    posted.get_by_role("button", name=NL.text("manager.result.close")).click()

    # The customer picks Loket.nl by mistake: the handoff offers the choice again.
    page.get_by_role("link", name=SHARED).click()
    journey.become(CUSTOMER)
    page.get_by_role("button", name=NL.text("customer.invite.start")).click()
    terms = modal(page, NL.text("customer.modal.title_terms"))
    terms.get_by_text(NL.text("customer.terms.option")).click()
    terms.get_by_placeholder(NL.text("customer.terms.package_placeholder")).click()
    page.get_by_role("option", name=NL.text("customer.terms.packages.loket")).click()
    terms.get_by_role("button", name=NL.text("customer.modal.submit_terms")).click()
    handoff = modal(page, NL.text("customer.modal.title_handoff"))
    choose_again = NL.text("customer.choose_again.button")
    expect(handoff.get_by_role("button", name=choose_again)).to_be_visible()
    journey.photograph("handoff-can-choose-again")
    handoff.get_by_role("button", name=NL.text("customer.modal.close")).click()
    invite = message(page, CLIENT).filter(has=page.get_by_role("button", name=choose_again))
    expect(invite).to_have_count(1)

    # The account manager has it on the to-do list and in a direct message.
    journey.become(MANAGER)
    page.get_by_role("link", name="Onboarding · Home").click()
    expect(home).to_contain_text(NL.text("manager.desk.todo_title", count=1))
    expect(home).to_contain_text("Loket.nl")
    expect(home.get_by_role("button", name=NL.text("manager.desk.done"))).to_have_count(1)
    journey.photograph("home-to-do")
    page.get_by_role("link", name="Onboarding · Messages").click()
    expect(message(page, CLIENT, "App Home")).to_have_count(1, timeout=10_000)

    # The status channel: one message for the onboarding, addressed to its owner where it
    # needs them, with the steps in its thread.
    page.get_by_role("link", name="onboarding-status").click()
    top_level = page.locator("#timeline > article.message")
    expect(top_level.filter(has_text=CLIENT).filter(has_text="Accountmanager")).to_have_count(1)
    needs_person = page.locator("#timeline > article.message.broadcast")
    expect(needs_person.filter(has_text="overgedragen")).to_contain_text(f"@{MANAGER_NAME}")
    thread = page.locator("#timeline > details.thread")
    expect(thread).to_have_count(1)
    thread.locator("summary").click()
    expect(thread).to_contain_text("geplaatst in #")
    journey.photograph("status-channel-thread")

    # The customer chooses again from the invite: back at the terms, then on with Nmbrs.
    page.get_by_role("link", name=SHARED).click()
    journey.become(CUSTOMER)
    invite.get_by_role("button", name=choose_again).click()
    terms = modal(page, NL.text("customer.modal.title_terms"))
    terms.get_by_text(NL.text("customer.terms.option")).click()
    terms.get_by_placeholder(NL.text("customer.terms.package_placeholder")).click()
    page.get_by_role("option", name=NL.text("customer.terms.packages.nmbrs")).click()
    terms.get_by_role("button", name=NL.text("customer.modal.submit_terms")).click()
    preparation = modal(page, NL.text("customer.modal.title_preparation"))
    preparation.get_by_role("button", name=NL.text("customer.modal.close")).click()

    # Off the to-do list, running again under its owner; still one message in the status channel.
    journey.become(MANAGER)
    page.get_by_role("link", name="Onboarding · Home").click()
    expect(home).to_contain_text(NL.text("manager.desk.none_todo"))
    running = home.locator(".block", has_text=CLIENT).filter(has_text=f"@{MANAGER_NAME}")
    expect(running.first).to_contain_text("🟢")
    journey.photograph("home-running-with-owner")
    page.get_by_role("link", name="onboarding-status").click()
    parent = top_level.filter(has_text=CLIENT).filter(has_text="Accountmanager")
    expect(parent).to_have_count(1)
    expect(parent).to_contain_text(NL.text("reports.health.running"), timeout=10_000)
    expect(thread).to_have_count(1)
    thread.locator("summary").click()
    expect(thread).to_contain_text("kiest opnieuw een salarispakket")
