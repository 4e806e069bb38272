"""The demo in a browser: the stack `make demo` starts (its stages from bot.demo, the Nmbrs
sandbox, the Slack stand-in and the served bot with its outbox worker and scheduler), with an
account manager and a customer clicking through a whole onboarding in Debian's Chromium.

Every step is photographed; with UPDATE_SCREENSHOTS=1 the pictures replace the ones in
docs/screenshots/ that the README shows, otherwise they go to a temporary folder.
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
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, demo_companies
from storage.crypto import generate_key
from tests.chromium import launch_chromium, needs_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Every stage of the demo but the files it keeps in the working directory.
IN_PROCESS_STAGES = [s for s in DEMO_STAGES if s not in (local_encryption_key, local_database)]
CLIENT = "Bakkerij de Vries"
COMPANIES = [company.name for company in demo_companies()]
NL = catalogue("nl")

pytestmark = needs_chromium


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The demo's stack in this process on free ports, around a scratch SQLite database."""
    with ExitStack() as stack:
        running = prepare_demo(
            stack,
            IN_PROCESS_STAGES,
            stand_in_port=0,
            nmbrs_api="soap",  # this journey pastes a SOAP username and token
            _env_file=None,
            database_url=f"sqlite:///{tmp_path / 'demo.db'}",
            encryption_keys=generate_key(),
            port=free_port(),
            outbox_channel_interval_seconds=0,
            outbox_poll_seconds=0.05,
            # The pictures show this onboarding's reports, not a digest due at start-up.
            digest_time=time(23, 59, 59),
        )
        container = build_container(running.settings)
        stack.callback(container.close)
        asgi = create_asgi_app_for(container)
        # As `serve` does: the outbox worker and the scheduler run beside the app.
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
    """The stand-in in Chromium, as a Dutch user in Amsterdam sees it; page errors fail."""
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800},
            locale="nl-NL",
            timezone_id="Europe/Amsterdam",
        )
        opened = context.new_page()
        opened.on("pageerror", lambda error: errors.append(str(error)))
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


def test_a_manager_and_a_customer_click_through_a_whole_onboarding_in_the_demo(
    demo: Demo, page: Page, screenshots: Path
) -> None:
    shot = 0

    def photograph(name: str) -> None:
        nonlocal shot
        shot += 1
        page.screenshot(path=screenshots / f"{shot:02d}-{name}.png", animations="disabled")

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
    photograph("manager-starts-onboarding")
    start.get_by_role("button", name=NL.text("manager.start.submit")).click()
    posted = modal(page, NL.text("manager.result.title_started"))
    expect(message(page, CLIENT)).to_have_count(1)
    photograph("invite-posted")
    posted.get_by_role("button", name=NL.text("manager.result.close")).click()

    # The customer, from the other organisation, starts from the invite in the channel.
    become(CUSTOMER)
    expect(page.get_by_role("link", name="onboarding-status")).to_have_count(0)
    photograph("customer-sees-invite")
    page.get_by_role("button", name=NL.text("customer.invite.start")).click()
    terms = modal(page, NL.text("customer.modal.title_terms"))
    terms.get_by_text(NL.text("customer.terms.option")).click()
    terms.get_by_placeholder(NL.text("customer.terms.package_placeholder")).click()
    page.get_by_role("option", name=NL.text("customer.terms.packages.nmbrs")).hover()
    photograph("terms-and-package")
    page.get_by_role("option", name=NL.text("customer.terms.packages.nmbrs")).click()
    terms.get_by_role("button", name=NL.text("customer.modal.submit_terms")).click()

    preparation = modal(page, NL.text("customer.modal.title_preparation"))
    expect(preparation).to_contain_text("WageTax_GetXML")
    photograph("nmbrs-preparation")
    preparation.get_by_role("button", name=NL.text("customer.modal.submit_preparation")).click()

    credentials = modal(page, NL.text("customer.modal.title_credentials"))
    credentials.get_by_label(NL.text("customer.credentials.username_label")).fill(DEMO_USERNAME)
    credentials.get_by_label(NL.text("customer.credentials.token_label")).fill(DEMO_TOKEN)
    photograph("credentials")
    demo.nmbrs.latency = 0.3  # long enough to see the bot at work after its ack
    credentials.get_by_role("button", name=NL.text("customer.modal.submit_credentials")).click()
    modal(page, NL.text("customer.modal.title_working"))
    photograph("checking-at-nmbrs")
    demo.nmbrs.latency = 0.0

    companies = modal(page, NL.text("customer.modal.title_companies"))
    for name in COMPANIES:
        companies.get_by_text(name).click()
    photograph("companies")
    companies.get_by_role("button", name=NL.text("customer.modal.submit_companies")).click()

    done = modal(page, NL.text("customer.modal.title_completed"))
    expect(done).to_contain_text(COMPANIES[-1])
    photograph("completed")
    done.get_by_role("button", name=NL.text("customer.modal.close")).click()

    # The channel shows the completion; the status channel has the outbox's report.
    expect(message(page, "Koppeling voltooid door", "5 bedrijven gekoppeld")).to_have_count(1)
    photograph("channel-after-completion")
    become(MANAGER)
    page.get_by_role("link", name="onboarding-status").click()
    expect(message(page, CLIENT, *COMPANIES)).to_have_count(1, timeout=10_000)
    photograph("status-channel")
    page.get_by_role("link", name="Onboarding · Home").click()
    expect(page.locator("#home")).to_contain_text(CLIENT)
    photograph("app-home")

    listed = CliRunner().invoke(
        cli, ["links", "list", "--json"], env={"DATABASE_URL": demo.settings.database_url}
    )
    assert listed.exit_code == 0, listed.output
    assert '"client": "Bakkerij de Vries"' in listed.stdout
    assert f'"username": "{DEMO_USERNAME}"' in listed.stdout
    assert DEMO_TOKEN not in listed.stdout
    assert sorted(path.name for path in screenshots.glob("*.png"))[-1].startswith(f"{shot:02d}-")
