"""What the demo's browser journeys (tests/e2e/test_browser_demo.py, SOAP, and
tests/e2e/test_browser_rest_demo.py, REST) share: the stack `make demo` starts, in this process
on free ports around a scratch SQLite database; the Slack stand-in in Chromium; and the steps
both journeys take before and after connecting Nmbrs, which differs.

A test module takes the fixtures `demo`, `page` and `screenshots` from here and says its API
with a fixture `demo_nmbrs_api`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright
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
from bot.transports.slack import answers
from devslack import serve_asgi
from devslack.workspace import CUSTOMER, MANAGER
from storage.crypto import generate_key
from tests.chromium import launch_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The pictures taken in this run: under UPDATE_SCREENSHOTS=1 (`make screenshots`) every walk
# writes into SCREENSHOTS, and one walk must not overwrite another's.
TAKEN: set[Path] = set()
# Every stage of the demo but the files it keeps in the working directory.
IN_PROCESS_STAGES = [s for s in DEMO_STAGES if s not in (local_encryption_key, local_database)]
CLIENT = "Bakkerij de Vries"
QUICK_STEP_PATIENCE_SECONDS = 1.5  # well below the 3 s Slack waits for the ack
NL = catalogue("nl")


@pytest.fixture
def demo(tmp_path: Path, demo_nmbrs_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    """The demo's stack with `demo_nmbrs_api` in this process on free ports, around a scratch
    SQLite database. The walks check that a quick step's screen comes in its ack: on a busy
    machine, beside the browser, a step may take longer than the half second the bot gives it
    before it acks with a working view instead, so here it gets QUICK_STEP_PATIENCE_SECONDS."""
    monkeypatch.setattr(answers, "FAST_ANSWER_SECONDS", QUICK_STEP_PATIENCE_SECONDS)
    with ExitStack() as stack:
        running = prepare_demo(
            stack,
            IN_PROCESS_STAGES,
            stand_in_port=0,
            nmbrs_api=demo_nmbrs_api,
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
    """The stand-in in Chromium, as a Dutch user in Amsterdam sees it; page errors (in any tab)
    fail."""
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


def modal(page: Page, title: str) -> Locator:
    dialog = page.get_by_role("dialog", name=title)
    dialog.wait_for()
    return dialog


def message(page: Page, *texts: str) -> Locator:
    found = page.locator("article.message")
    for text in texts:
        found = found.filter(has_text=text)
    return found


@dataclass
class Journey:
    """An account manager and a customer in the stand-in's tab `page`. The pictures are numbered
    in order, named `<prefix><number>-<name>.png`; the shared steps are photographed only when
    `every_step` (the SOAP journey's pictures; the REST one photographs the consent alone)."""

    demo: Demo
    page: Page
    screenshots: Path
    prefix: str = ""
    every_step: bool = True
    shot: int = 0

    def photograph(self, name: str, tab: Page | None = None) -> None:
        self.shot += 1
        path = self.screenshots / f"{self.prefix}{self.shot:02d}-{name}.png"
        assert path not in TAKEN, f"{path.name} was taken by another walk: give yours a prefix"
        TAKEN.add(path)
        (tab or self.page).screenshot(path=path, animations="disabled")

    def _step(self, name: str) -> None:
        if self.every_step:
            self.photograph(name)

    def become(self, person: str) -> None:
        real_name = self.demo.slack.workspace.users[person].real_name
        self.page.get_by_role("tab", name=real_name).click()
        expect(self.page.locator(".me-name")).to_have_text(real_name)

    def manager_starts_the_onboarding(self) -> None:
        """From the shared channel, for CLIENT with the customer as contact: the invite posted."""
        page = self.page
        page.get_by_label("Message").fill("/onboard")
        page.keyboard.press("Enter")
        start = modal(page, NL.text("manager.start.title"))
        page.get_by_label(NL.text("manager.start.client_label")).fill(CLIENT)
        page.get_by_label(NL.text("manager.start.contact_label")).click()
        page.get_by_role("option", name=self.demo.slack.workspace.users[CUSTOMER].real_name).click()
        self._step("manager-starts-onboarding")
        start.get_by_role("button", name=NL.text("manager.start.submit")).click()
        posted = modal(page, NL.text("manager.result.title_started"))
        if self.every_step:
            expect(message(page, CLIENT)).to_have_count(1)
            self.photograph("invite-posted")
        posted.get_by_role("button", name=NL.text("manager.result.close")).click()

    def customer_accepts_the_terms(self) -> Locator:
        """The customer, from the other organisation, starts from the invite in the channel and
        accepts the terms for Nmbrs: the preparation screen."""
        page = self.page
        self.become(CUSTOMER)
        if self.every_step:
            expect(page.get_by_role("link", name="onboarding-status")).to_have_count(0)
            self.photograph("customer-sees-invite")
        page.get_by_role("button", name=NL.text("customer.invite.start")).click()
        terms = modal(page, NL.text("customer.modal.title_terms"))
        terms.get_by_text(NL.text("customer.terms.option")).click()
        terms.get_by_placeholder(NL.text("customer.terms.package_placeholder")).click()
        package = page.get_by_role("option", name=NL.text("customer.terms.packages.nmbrs"))
        if self.every_step:
            package.hover()
            self.photograph("terms-and-package")
        package.click()
        terms.get_by_role("button", name=NL.text("customer.modal.submit_terms")).click()
        return modal(page, NL.text("customer.modal.title_preparation"))

    def customer_links(self, companies: Locator, names: list[str]) -> None:
        """The customer ticks every company in `names` and sees the link completed."""
        for name in names:
            companies.get_by_text(name).click()
        self._step("companies")
        companies.get_by_role("button", name=NL.text("customer.modal.submit_companies")).click()
        done = modal(self.page, NL.text("customer.modal.title_completed"))
        expect(done).to_contain_text(names[-1])
        self._step("completed")
        done.get_by_role("button", name=NL.text("customer.modal.close")).click()

    def reports_are_posted(self, names: list[str]) -> None:
        """The channel shows the completion; the status channel has the outbox's report."""
        page = self.page
        expect(message(page, "Koppeling voltooid door", "5 bedrijven gekoppeld")).to_have_count(1)
        self._step("channel-after-completion")
        self.become(MANAGER)
        page.get_by_role("link", name="onboarding-status").click()
        expect(message(page, CLIENT, *names)).to_have_count(1, timeout=10_000)
        self._step("status-channel")

    def listed_links(self) -> str:
        """What `onboard-bot links list --json` says of the demo's database."""
        listed = CliRunner().invoke(
            cli, ["links", "list", "--json"], env={"DATABASE_URL": self.demo.settings.database_url}
        )
        assert listed.exit_code == 0, listed.output
        return listed.stdout
