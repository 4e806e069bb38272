"""A SOAP link moved to the REST API through the served bot: `links migrate`'s request in the
client's channel, its Relink button, the consent screen's login button followed by a browser
stand-in to the fake Nmbrs REST API and back, the open link modal redrawn with the matched
companies ticked, and the confirmation moving the link; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core.payroll import NMBRS_REST
from bot.transports.slack.views.links import ACTION_RELINK, CALLBACK_LINK_COMPANIES
from bot.transports.slack.views.onboarding import ACTION_COMPANIES
from devslack import DevSlack
from payroll.nmbrs_rest.model import Grant
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    SandboxHandle,
    demo_logins,
    run_rest_sandbox,
)
from payroll.nmbrs_rest.sandbox.world import company_guid
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN
from payroll.nmbrs_soap.sandbox import SandboxHandle as SoapSandbox
from storage.db import upgrade
from tests.e2e.journey import CHANNEL, MANAGER, settled, slack_traffic
from tests.e2e.test_consent_flow import Browser, bot_logs, login_url
from tests.e2e.test_links import DEMO_IDS, STATUS, LinkBot, channel_message, completed_onboarding
from tests.served import bot_settings

PUBLIC_URL = "https://onboarding.example.nl"
REDIRECT_URI = PUBLIC_URL + "/nmbrs/callback"


@pytest.fixture(scope="module")
def rest_sandbox() -> Iterator[SandboxHandle]:
    with run_rest_sandbox(redirect_uris=[REDIRECT_URI]) as handle:
        yield handle


@pytest.fixture
def rest(rest_sandbox: SandboxHandle) -> SandboxHandle:
    rest_sandbox.state.reset(demo_logins())
    rest_sandbox.heal()
    rest_sandbox.clear_calls()
    return rest_sandbox


@pytest.fixture
def bot(
    database_url: str, slack: DevSlack, nmbrs: SoapSandbox, rest: SandboxHandle
) -> Iterator[LinkBot]:
    """New onboardings on SOAP (the links to move), the REST API configured for the relinks."""
    upgrade(database_url)
    settings = bot_settings(
        database_url,
        slack,
        nmbrs,
        nmbrs_api="soap",
        public_url=PUBLIC_URL,
        nmbrs_rest_url=rest.base_url,
        nmbrs_identity_url=rest.base_url,
        nmbrs_client_id=DEMO_CLIENT_ID,
        nmbrs_client_secret=DEMO_CLIENT_SECRET,
        nmbrs_subscription_key=DEMO_SUBSCRIPTION_KEY,
        outbox_channel_interval_seconds=0,
        outbox_poll_seconds=0.05,
    )
    served = LinkBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def test_a_soap_link_moves_to_the_rest_api_by_consent_from_the_migrate_request(
    bot, slack, customer, rest, all_logs
):
    onboarding_id = completed_onboarding(bot, customer)
    [asked] = bot.container.link_migration.request_moves(actor="cli")
    assert asked.asked
    request = channel_message(customer, CHANNEL, "nieuwe API")

    customer.click(request, ACTION_RELINK)
    consent = settled(customer, "link_info")
    assert consent.external_id.startswith("consent-")
    browser = Browser(bot)
    started = browser.open(login_url(consent))
    assert started.status_code == 302
    query = rest.consent(started.headers["location"], FINE_LOGIN)
    page = browser.open(f"{REDIRECT_URI}?code={query['code']}&state={query['state']}")
    assert page.status_code == 200

    choice = settled(customer, CALLBACK_LINK_COMPANIES)
    assert "gevonden (hetzelfde bedrijf in Nmbrs)" in choice.text()
    guids = [company_guid(int(soap_id)) for soap_id in DEMO_IDS]
    customer.fill(choice, {ACTION_COMPANIES: guids})
    customer.submit(choice)
    assert settled(customer).title == "Koppeling voltooid"

    link, companies, secret = bot.link(onboarding_id)
    assert (link.provider, companies) == (NMBRS_REST, guids)
    assert Grant.from_secret(secret).refresh_token and DEMO_TOKEN not in secret
    channel_message(slack.user(MANAGER), STATUS, "overgezet naar de REST API")
    # The bot's own records (the browser and the fake Nmbrs stand-ins log what they send).
    leaked = slack_traffic(slack) + bot_logs(all_logs)
    for value in (
        query["code"],
        query["state"],
        DEMO_TOKEN,
        Grant.from_secret(secret).refresh_token,
    ):
        assert value not in leaked
