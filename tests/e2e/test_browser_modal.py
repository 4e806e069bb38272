"""The customer's modal in the demo, in Chromium, checked as a person would: no "(optional)" on
an input that must be filled, no "Een moment" before a screen that needs no Nmbrs, the
preparation in business words with its exact settings and a route for someone who is not the
Nmbrs administrator one click away, the instructions again from a later screen, a wrong token
said at the token field, and a block that ends in the customer's time and names a person.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from bot.demo import Demo
from payroll.nmbrs_soap.sandbox import DEMO_USERNAME
from tests.chromium import needs_chromium
from tests.e2e.browser_demo import CLIENT, NL, Journey, modal

pytestmark = needs_chromium

WORKING_TITLE = NL.text("customer.modal.title_working")


@pytest.fixture
def demo_nmbrs_api() -> str:
    return "soap"  # the username and token are pasted; the REST journey shares the screens


def working_views_shown(demo: Demo) -> int:
    """How often the bot showed the customer a working view: in an ack, or by a Web API call."""
    acked = [json.loads(d.response_text or "{}") for d in demo.slack.deliveries]
    sent = [call.args for call in demo.slack.calls() if call.method.startswith("views.")]
    views = [answer.get("view") for answer in acked] + [args.get("view") for args in sent]
    titles = [json.loads(v) if isinstance(v, str) else v for v in views if v]
    return sum(1 for view in titles if (view.get("title") or {}).get("text") == WORKING_TITLE)


def button(dialog: Locator, key: str) -> Locator:
    return dialog.get_by_role("button", name=NL.text(key), exact=True)


def test_the_customer_meets_required_inputs_plain_words_and_no_needless_waiting(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    journey = Journey(demo, page, screenshots, prefix="modal-", every_step=False)
    journey.manager_starts_the_onboarding()
    before = working_views_shown(demo)
    preparation = journey.customer_accepts_the_terms()

    # Start opens the modal with the terms (a working view first only when the bot was busy,
    # which a slow machine may make it); the terms came with the preparation in their ack. The
    # terms are required inputs, not "(optional)".
    assert working_views_shown(demo) - before in (0, 1)
    before = working_views_shown(demo)
    expect(page.get_by_text("(optional)")).to_have_count(0)

    # The preparation speaks of the data, not of API methods, and links to the Nmbrs login.
    for data in ("employees", "contracts", "salaries", "wage_tax_returns"):
        expect(preparation).to_contain_text(NL.text(f"customer.consent.data.{data}"))
    expect(preparation).not_to_contain_text("WageTax_GetXML")
    login = preparation.get_by_role("link", name=NL.text("customer.preparation.nmbrs_button"))
    expect(login).to_have_attribute("href", demo.settings.nmbrs_login_url)
    journey.photograph("preparation-in-business-words")

    # The exact settings, for whoever configures Nmbrs, open on top and close back.
    button(preparation, "customer.preparation.exact_button").click()
    exact = modal(page, NL.text("customer.modal.title_exact"))
    expect(exact).to_contain_text("WageTax_GetXML")
    expect(exact).to_contain_text("(Scenario 3) General Manager Payroll & HR (System)")
    journey.photograph("exact-settings")
    button(exact, "customer.modal.close").click()

    # Not the Nmbrs administrator: a message to send, with the link to the invite.
    preparation = modal(page, NL.text("customer.modal.title_preparation"))
    button(preparation, "customer.preparation.forward_button").click()
    forward = modal(page, NL.text("customer.modal.title_forward"))
    expect(forward).to_contain_text(CLIENT)
    expect(forward).to_contain_text("https://slack.com/app_redirect?channel=")
    journey.photograph("forward-the-step")
    button(forward, "customer.modal.close").click()

    # "Ik ben klaar" leads straight to the credentials: nothing to wait for.
    preparation = modal(page, NL.text("customer.modal.title_preparation"))
    button(preparation, "customer.modal.submit_preparation").click()
    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    assert working_views_shown(demo) == before

    # The instructions again, from the later screen, and back with the username still typed.
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(DEMO_USERNAME)
    button(credentials, "customer.preparation.again_button").click()
    again = modal(page, NL.text("customer.modal.title_preparation"))
    expect(again).to_contain_text(NL.text("customer.consent.data.salaries"))
    expect(button(again, "customer.modal.submit_preparation")).to_have_count(0)
    button(again, "customer.modal.close").click()
    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    username = credentials.get_by_label(NL.text("customer.credentials.username_label"))
    expect(username).to_have_value(DEMO_USERNAME)

    # A wrong token: Nmbrs is asked (the one working view), and the error stands at the
    # token field, which asks for the token again; the username stays.
    for attempt in range(5):
        token = credentials.get_by_label(NL.text("customer.credentials.token_label"))
        expect(token).to_have_value("")
        token.fill(f"0f1e2d3c4b5a69788796a5b4c3d2e1f{attempt}")
        button(credentials, "customer.modal.submit_credentials").click()
        if attempt == 0:
            credentials = modal(page, NL.text("customer.modal.title_credentials"))
            expect(credentials).to_contain_text(NL.text("customer.credentials.wrong_lead"))
            expect(credentials).to_contain_text(NL.text("customer.credentials.token_hint_again"))
            expect(username).to_have_value(DEMO_USERNAME)
            assert working_views_shown(demo) == before + 1
            journey.photograph("wrong-token")

    # Blocked: until a time in the customer's own clock, and who to call.
    blocked = modal(page, NL.text("customer.modal.title_blocked"))
    text = blocked.inner_text()
    assert re.search(r"tot \d{1,2} \w+ \d{4} om \d{2}:\d{2}", text) and "UTC" not in text
    expect(blocked).to_contain_text("Hulp nodig? Uw accountmanager is")
    expect(blocked).to_contain_text(demo.settings.support_phone)
    journey.photograph("blocked-with-a-person-to-call")
