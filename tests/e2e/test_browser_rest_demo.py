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

import os
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from typer.testing import CliRunner

from bot.bootstrap import background_work, build_container, create_asgi_app_for
from bot.cli import app as cli
from bot.demo import (
    DEMO_STAGES,
    Demo,
    free_port,
    local_database,
    local_encryption_key,
    prepare_demo,
)
from bot.i18n import catalogue
from bot.schedule import running_in_background
from devslack import serve_asgi
from devslack.workspace import CUSTOMER, MANAGER
from payroll.nmbrs_rest.sandbox import DEMO_CLIENT_SECRET, FINE_LOGIN, demo_companies
from storage.crypto import generate_key
from tests.chromium import launch_chromium, needs_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
IN_PROCESS_STAGES = [s for s in DEMO_STAGES if s not in (local_encryption_key, local_database)]
CLIENT = "Bakkerij de Vries"
COMPANIES = [company.name for company in demo_companies()]
NL = catalogue("nl")

pytestmark = needs_chromium


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The demo's stack with the REST API in this process on free ports, around a scratch
    SQLite database."""
    with ExitStack() as stack:
        running = prepare_demo(
            stack,
            IN_PROCESS_STAGES,
            stand_in_port=0,
            nmbrs_api="rest",
            _env_file=None,
            database_url=f"sqlite:///{tmp_path / 'demo.db'}",
            encryption_keys=generate_key(),
            port=free_port(),
            outbox_channel_interval_seconds=0,
            outbox_poll_seconds=0.05,
            digest_time=time(23, 59, 59),
        )
        container = build_container(running.settings)
        stack.callback(container.close)
        asgi = create_asgi_app_for(container)
        asgi.router.lifespan_context = lambda _app: running_in_background(
            background_work(container)
        )
        stack.enter_context(serve_asgi(asgi, port=running.settings.port))
        yield running


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path / "screenshots"


@pytest.fixture
def page(demo: Demo) -> Iterator[Page]:
    """The stand-in in Chromium, as a Dutch user sees it; page errors (in any tab) fail."""
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800},
            locale="nl-NL",
            timezone_id="Europe/Amsterdam",
        )
        context.on("page", lambda tab: tab.on("pageerror", lambda e: errors.append(str(e))))
        opened = context.new_page()
        opened.goto(demo.open_url)
        yield opened
        browser.close()
    assert errors == []


def modal(page: Page, title: str):
    dialog = page.get_by_role("dialog", name=title)
    dialog.wait_for()
    return dialog


def message(page: Page, *texts: str):
    found = page.locator("article.message")
    for text in texts:
        found = found.filter(has_text=text)
    return found


def test_a_customer_connects_nmbrs_by_consent_in_the_demo_and_the_modal_moves_on_by_itself(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    assert demo.settings.nmbrs_api == "rest" and demo.nmbrs_rest is not None
    shot = 0

    def photograph(tab: Page, name: str) -> None:
        nonlocal shot
        shot += 1
        tab.screenshot(path=screenshots / f"rest-{shot:02d}-{name}.png", animations="disabled")

    def become(person: str) -> None:
        page.get_by_role("tab", name=demo.slack.workspace.users[person].real_name).click()
        expect(page.locator(".me-name")).to_have_text(demo.slack.workspace.users[person].real_name)

    # The account manager starts the onboarding from the shared channel.
    page.get_by_label("Message").fill("/onboard")
    page.keyboard.press("Enter")
    start = modal(page, NL.text("manager.start.title"))
    page.get_by_label(NL.text("manager.start.client_label")).fill(CLIENT)
    page.get_by_label(NL.text("manager.start.contact_label")).click()
    page.get_by_role("option", name=demo.slack.workspace.users[CUSTOMER].real_name).click()
    start.get_by_role("button", name=NL.text("manager.start.submit")).click()
    posted = modal(page, NL.text("manager.result.title_started"))
    posted.get_by_role("button", name=NL.text("manager.result.close")).click()

    # The customer starts, accepts the terms and reads how to prepare Nmbrs.
    become(CUSTOMER)
    page.get_by_role("button", name=NL.text("customer.invite.start")).click()
    terms = modal(page, NL.text("customer.modal.title_terms"))
    terms.get_by_text(NL.text("customer.terms.option")).click()
    terms.get_by_placeholder(NL.text("customer.terms.package_placeholder")).click()
    page.get_by_role("option", name=NL.text("customer.terms.packages.nmbrs")).click()
    terms.get_by_role("button", name=NL.text("customer.modal.submit_terms")).click()
    preparation = modal(page, NL.text("customer.modal.title_preparation"))
    expect(preparation).not_to_contain_text("WageTax_GetXML")  # no SOAP permissions to tick
    photograph(page, "preparation")
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()

    # "Log in bij Nmbrs" is a link: the fake's login page opens in a new tab.
    consent = modal(page, NL.text("customer.modal.title_consent"))
    login = consent.get_by_role("link", name=NL.text("customer.consent.login_button"))
    assert login.get_attribute("href").startswith(f"{demo.settings.public_url}/nmbrs/start?t=")
    photograph(page, "consent-screen")
    with page.context.expect_page() as opened:
        login.click()
    nmbrs = opened.value
    nmbrs.wait_for_load_state()
    assert nmbrs.url.startswith(f"{demo.nmbrs_rest.base_url}/connect/authorize?")
    expect(nmbrs.get_by_role("heading", name="Inloggen bij Nmbrs (sandbox)")).to_be_visible()
    photograph(nmbrs, "nmbrs-login")
    nmbrs.get_by_role("button", name=FINE_LOGIN).click()
    expect(nmbrs.get_by_role("heading", name="Toestemming geven")).to_be_visible()
    photograph(nmbrs, "nmbrs-consent")
    nmbrs.get_by_role("button", name="Toestaan").click()

    # Back at the bot: a page with nothing on it but "you can go back".
    expect(nmbrs.get_by_text(NL.text("customer.consent_page.done"))).to_be_visible()
    assert nmbrs.url.startswith(f"{demo.settings.public_url}/nmbrs/callback?")
    for company in COMPANIES:
        expect(nmbrs.locator("body")).not_to_contain_text(company)
    photograph(nmbrs, "back-to-slack")
    nmbrs.close()

    # The modal in the stand-in moved on by itself, naming the debtor approved for (who
    # approved only with NMBRS_ASK_USER_INFO on).
    page.bring_to_front()
    companies = modal(page, NL.text("customer.modal.title_companies"))
    expect(companies).to_contain_text("Goedgekeurd voor")
    expect(companies).to_contain_text("Voorbeeld Administratie")
    photograph(page, "companies-by-itself")
    for name in COMPANIES:
        companies.get_by_text(name).click()
    companies.get_by_role("button", name=NL.text("customer.modal.submit_companies")).click()
    done = modal(page, NL.text("customer.modal.title_completed"))
    expect(done).to_contain_text(COMPANIES[-1])
    done.get_by_role("button", name=NL.text("customer.modal.close")).click()

    # The channel shows the completion; the status channel has the outbox's report.
    expect(message(page, "Koppeling voltooid door", "5 bedrijven gekoppeld")).to_have_count(1)
    become(MANAGER)
    page.get_by_role("link", name="onboarding-status").click()
    expect(message(page, CLIENT, *COMPANIES)).to_have_count(1, timeout=10_000)

    listed = CliRunner().invoke(
        cli, ["links", "list", "--json"], env={"DATABASE_URL": demo.settings.database_url}
    )
    assert listed.exit_code == 0, listed.output
    assert '"provider": "nmbrs-rest"' in listed.stdout and '"id": null' in listed.stdout
    assert DEMO_CLIENT_SECRET not in listed.stdout
