"""The customer connects Nmbrs by consent through the served bot: the fake Slack shows the
modal, a browser stand-in follows its login button to /nmbrs/start, consents at the fake Nmbrs
REST API and comes back to /nmbrs/callback; the open modal then changes by itself."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from bot.transports.slack.views.onboarding import (
    ACTION_CONSENT_LOGIN,
    CALLBACK_COMPANIES,
)
from devslack import DevSlack, SlackUser
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    SandboxHandle,
)
from payroll.nmbrs_soap.sandbox import SandboxHandle as SoapSandbox
from storage.db import upgrade
from tests.e2e.journey import (
    ServedBot,
    accept_terms,
    eventually,
    logged_text,
    settled,
    slack_traffic,
    start,
)
from tests.served import bot_settings

PUBLIC_URL = "https://onboarding.example.nl"
REDIRECT_URI = PUBLIC_URL + "/nmbrs/callback"


@pytest.fixture(scope="module")
def rest_redirect_uri() -> str:
    """The fake Nmbrs (tests/payroll/nmbrs_rest/fixtures.py) sends the consent back to the bot."""
    return REDIRECT_URI


@pytest.fixture
def rest_bot(
    database_url: str, slack: DevSlack, nmbrs: SoapSandbox, rest_nmbrs: SandboxHandle
) -> Iterator[ServedBot]:
    upgrade(database_url)
    settings = bot_settings(
        database_url,
        slack,
        nmbrs,
        nmbrs_api="rest",
        public_url=PUBLIC_URL,
        nmbrs_rest_url=rest_nmbrs.base_url,
        nmbrs_identity_url=rest_nmbrs.base_url,
        nmbrs_client_id=DEMO_CLIENT_ID,
        nmbrs_client_secret=DEMO_CLIENT_SECRET,
        nmbrs_subscription_key=DEMO_SUBSCRIPTION_KEY,
    )
    served = ServedBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


class Browser:
    """Opens our public pages on the served bot (PUBLIC_URL stands for it)."""

    def __init__(self, bot: ServedBot):
        self.client = httpx.Client(base_url=bot.url, follow_redirects=False, trust_env=False)

    def open(self, public_url: str) -> httpx.Response:
        parts = urlsplit(public_url)
        return self.client.get(f"{parts.path}?{parts.query}")


# The stand-ins' own HTTP clients (the browser here, the fake Nmbrs' consent pages) log what a
# browser would send; the bot's records are the rest.
STAND_INS = ("httpx", "httpcore")


def bot_logs(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> str:
    return "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if not record.name.startswith(STAND_INS) and record.levelno >= level
    )


def login_url(view) -> str:
    for block in view.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == ACTION_CONSENT_LOGIN:
                return element["url"]
    raise AssertionError("the modal has no login button")


def to_consent(bot: ServedBot, customer: SlackUser):
    bot.invite()
    start(customer)
    accept_terms(customer)
    customer.submit(settled(customer))  # the preparation
    return settled(customer, "onboarding_info")


def test_consenting_in_the_browser_changes_the_open_modal_by_itself(
    rest_bot: ServedBot, slack: DevSlack, customer: SlackUser, rest_nmbrs: SandboxHandle, all_logs
) -> None:
    consent = to_consent(rest_bot, customer)
    assert consent.external_id.startswith("consent-")
    url = login_url(consent)
    assert url.startswith(PUBLIC_URL + "/nmbrs/start?t=")
    # The button is a link; Slack also sends its click, which the bot only acks.
    assert customer.click(consent, ACTION_CONSENT_LOGIN).status == 200

    browser = Browser(rest_bot)
    started = browser.open(url)
    assert started.status_code == 302
    assert started.headers["cache-control"] == "no-store"
    assert started.headers["referrer-policy"] == "no-referrer"
    query = rest_nmbrs.consent(started.headers["location"], FINE_LOGIN)
    back = f"{REDIRECT_URI}?code={query['code']}&state={query['state']}&scope=x"
    page = browser.open(back)
    assert page.status_code == 200
    assert "U kunt terug naar Slack" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"

    choice = settled(customer, CALLBACK_COMPANIES)
    # NMBRS_ASK_USER_INFO is off: the debtor approved for, without a "by".
    assert "Goedgekeurd voor" in json.dumps(choice.blocks)
    assert "Goedgekeurd door" not in json.dumps(choice.blocks)

    replayed = browser.open(back)
    assert replayed.status_code == 400
    assert "Deze link is ongeldig" in replayed.text and "This link is not valid" in replayed.text

    leaked = bot_logs(all_logs) + slack_traffic(slack)
    for secret in (query["code"], query["state"]):
        assert secret not in leaked
    # The start link is the button's URL (in the view, and in slack_sdk's DEBUG dump of the
    # call), never in a line the bot logs at INFO or above.
    token = urlsplit(url).query.removeprefix("t=")
    assert token not in bot_logs(all_logs, level=logging.INFO)


def test_a_refusal_in_the_browser_shows_the_consent_again_with_why(
    rest_bot: ServedBot, customer: SlackUser, rest_nmbrs: SandboxHandle
) -> None:
    consent = to_consent(rest_bot, customer)
    browser = Browser(rest_bot)
    started = browser.open(login_url(consent))
    query = rest_nmbrs.consent(started.headers["location"], FINE_LOGIN, approve=False)
    page = browser.open(f"{REDIRECT_URI}?error={query['error']}&state={query['state']}")
    assert page.status_code == 200
    again = customer.wait_for_modal(lambda view: view.external_id != consent.external_id)
    assert "geen toestemming gegeven" in json.dumps(again.blocks)


def test_a_consent_whose_modal_was_closed_is_there_at_the_next_start(
    rest_bot: ServedBot, customer: SlackUser, rest_nmbrs: SandboxHandle, all_logs
) -> None:
    consent = to_consent(rest_bot, customer)
    browser = Browser(rest_bot)
    started = browser.open(login_url(consent))
    customer.close(consent)
    query = rest_nmbrs.consent(started.headers["location"], FINE_LOGIN)
    page = browser.open(f"{REDIRECT_URI}?code={query['code']}&state={query['state']}")
    assert page.status_code == 200
    # The modal is redrawn once the browser has its page.
    eventually(lambda: "the consent's modal is closed" in logged_text(all_logs))
    assert start(customer).callback_id == CALLBACK_COMPANIES  # Start resumes at the choice


def test_a_bad_start_link_is_a_page_in_both_languages(rest_bot: ServedBot) -> None:
    page = Browser(rest_bot).open(PUBLIC_URL + "/nmbrs/start?t=nonsense")
    assert page.status_code == 400
    assert "Deze link is ongeldig" in page.text and "This link is not valid" in page.text
    assert page.headers["cache-control"] == "no-store"
