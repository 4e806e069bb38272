"""Served: a relink with a login of another Nmbrs environment stops and tells the customer so;
the account manager confirms it in the App Home, and only then is the link switched (or the
customer enters another login instead)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.i18n import catalogue
from bot.transports.slack.views.home import ACTION_CONFIRM_ENVIRONMENT
from bot.transports.slack.views.links import (
    ACTION_LINK_OTHER_LOGIN,
    ACTION_RELINK,
    CALLBACK_LINK_CREDENTIALS,
)
from bot.transports.slack.views.onboarding import ACTION_TOKEN, ACTION_USERNAME
from devslack import DevSlack
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    SandboxAccount,
    SandboxHandle,
    demo_companies,
)
from storage.db import upgrade
from storage.links import ACTIVE, NEEDS_RELINK, link_state
from tests.e2e.journey import CHANNEL, MANAGER, settled
from tests.e2e.test_links import (
    NEW_TOKEN,
    STATUS,
    LinkBot,
    channel_message,
    completed_onboarding,
)
from tests.served import bot_settings

OTHER_LOGIN = "loon@anderekantoor.nl"
OTHER_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def bot(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[LinkBot]:
    upgrade(database_url)
    settings = bot_settings(
        database_url,
        slack,
        nmbrs,
        outbox_channel_interval_seconds=0,
        outbox_poll_seconds=0.05,
        account_manager_group="S0MANAGERS",
    )
    served = LinkBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def test_a_relink_to_another_environment_is_switched_only_once_the_manager_confirms(
    bot, slack, customer, nmbrs
):
    onboarding_id = completed_onboarding(bot, customer)
    nmbrs.accounts.add(SandboxAccount(OTHER_LOGIN, OTHER_TOKEN, "anderekantoor", demo_companies()))
    nmbrs.accounts[DEMO_USERNAME].token = NEW_TOKEN
    bot.container.link_maintenance.verify_all()

    customer.click(channel_message(customer, CHANNEL, ACTION_RELINK), ACTION_RELINK)
    form = settled(customer, CALLBACK_LINK_CREDENTIALS)
    customer.fill(form, {ACTION_USERNAME: OTHER_LOGIN, ACTION_TOKEN: OTHER_TOKEN})
    customer.submit(form)
    waiting = settled(customer)
    assert waiting.title == catalogue("nl").text("links.modal.title_confirm_environment")
    assert "`anderekantoor`" in waiting.text() and "`voorbeeld`" in waiting.text()
    link, _, token = bot.link(onboarding_id)
    assert link_state(link) == NEEDS_RELINK and token == DEMO_TOKEN
    assert link.account_label == DEMO_USERNAME

    manager = slack.user(MANAGER)
    channel_message(manager, STATUS, "bevestig het dan in de App Home")
    manager.open_home()
    home = manager.wait_for_home(lambda view: ACTION_CONFIRM_ENVIRONMENT in str(view.blocks))
    manager.click(home, ACTION_CONFIRM_ENVIRONMENT)
    manager.wait_for_home(lambda view: "is bevestigd" in str(view.blocks))

    link, _, token = bot.link(onboarding_id)
    assert link_state(link) == ACTIVE and token == OTHER_TOKEN
    assert (link.account_label, link.environment["domain"]) == (OTHER_LOGIN, "anderekantoor")
    report = channel_message(manager, STATUS, "opnieuw gekoppeld door <@U0MANAGER>")
    assert OTHER_LOGIN in report.text and DEMO_USERNAME in report.text
    assert ACTION_CONFIRM_ENVIRONMENT not in str(manager.home.blocks)


def test_the_customer_waiting_for_a_confirmation_may_enter_another_login(bot, customer, nmbrs):
    onboarding_id = completed_onboarding(bot, customer)
    nmbrs.accounts.add(SandboxAccount(OTHER_LOGIN, OTHER_TOKEN, "anderekantoor", demo_companies()))
    nmbrs.accounts[DEMO_USERNAME].token = NEW_TOKEN
    bot.container.link_maintenance.verify_all()
    customer.click(channel_message(customer, CHANNEL, ACTION_RELINK), ACTION_RELINK)
    form = settled(customer, CALLBACK_LINK_CREDENTIALS)
    customer.fill(form, {ACTION_USERNAME: OTHER_LOGIN, ACTION_TOKEN: OTHER_TOKEN})
    customer.submit(form)

    customer.click(settled(customer), ACTION_LINK_OTHER_LOGIN)
    again = settled(customer, CALLBACK_LINK_CREDENTIALS, after=form)
    customer.fill(again, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: NEW_TOKEN})
    customer.submit(again)
    assert settled(customer).title == "Koppeling voltooid"
    link, _, token = bot.link(onboarding_id)
    assert link_state(link) == ACTIVE and token == NEW_TOKEN
    assert link.environment == {"domain": "voorbeeld"}
