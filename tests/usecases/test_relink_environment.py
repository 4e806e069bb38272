"""A relink may not silently move a link to another Nmbrs environment: one in the link's own
environment goes through as before, one in another waits, changing nothing, until the account
manager confirms it; every relink's report names the old and the new login."""

from __future__ import annotations

from bot.clock import SystemClock
from bot.core.screens import (
    CompletedScreen,
    CredentialsScreen,
    EnvironmentConfirmationScreen,
)
from bot.reports import status_notices
from bot.schedule import reminder_policy
from bot.settings import Settings
from bot.usecases.manager import ManagerTools
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxAccount, demo_companies
from storage.links import ACTIVE, NEEDS_RELINK, link_state
from storage.models import PayrollLink
from tests.slack_drawn import draw_row
from tests.usecases.link_world import CUSTOMER, DEMO_IDS, MANAGER, NEW_TOKEN, STATUS, World

SAME_ENVIRONMENT_LOGIN = "salaris@bakkerij.nl"
OTHER_ENVIRONMENT_LOGIN = "loon@anderekantoor.nl"
OTHER_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def broken_link(world: World) -> int:
    onboarding_id = world.linked_client()
    world.revoke_token()
    world.maintenance.verify(world.link_id(onboarding_id))
    return onboarding_id


def add_login(world: World, username: str, subdomain: str) -> None:
    world.nmbrs.accounts.add(SandboxAccount(username, OTHER_TOKEN, subdomain, demo_companies()))


def relink_as(world: World, onboarding_id: int, username: str):
    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    assert isinstance(opened.screen, CredentialsScreen)
    return world.links.submit_relink(opened.ref, CUSTOMER, username=username, token=OTHER_TOKEN)


def report_text(world: World, kind: str) -> str:
    [row] = [row for row in world.outbox(channel=STATUS) if row.kind == f"report.{kind}"]
    return draw_row(row).payload["text"]


def stored(world: World, onboarding_id: int) -> tuple[PayrollLink, list[int], str | None]:
    return world.link(onboarding_id)


def manager_tools(world: World) -> ManagerTools:
    settings = Settings(_env_file=None, status_channel=STATUS)
    return ManagerTools(
        unit_of_work=world.storage.unit_of_work,
        service=world.onboarding,
        reports=status_notices(settings),
        policy=reminder_policy(settings),
        clock=SystemClock(),
    )


def test_a_relink_in_the_links_own_environment_goes_through_and_names_both_logins(world):
    onboarding_id = broken_link(world)
    add_login(world, SAME_ENVIRONMENT_LOGIN, "voorbeeld")

    done = relink_as(world, onboarding_id, SAME_ENVIRONMENT_LOGIN)

    assert isinstance(done.screen, CompletedScreen)
    link, companies, token = stored(world, onboarding_id)
    assert (link.account_label, link.environment["domain"]) == (SAME_ENVIRONMENT_LOGIN, "voorbeeld")
    assert link_state(link) == ACTIVE and token == OTHER_TOKEN and companies == DEMO_IDS
    text = report_text(world, "link_relinked")
    assert SAME_ENVIRONMENT_LOGIN in text and DEMO_USERNAME in text
    assert "omgeving" not in text  # the environment stayed


def test_a_relink_with_the_same_login_names_it_as_old_and_new(world):
    onboarding_id = broken_link(world)
    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    world.links.submit_relink(opened.ref, CUSTOMER, username=DEMO_USERNAME, token=NEW_TOKEN)
    assert report_text(world, "link_relinked").count(DEMO_USERNAME) == 2


def test_a_relink_to_another_environment_waits_for_the_account_manager_and_changes_nothing(
    world,
):
    onboarding_id = broken_link(world)
    add_login(world, OTHER_ENVIRONMENT_LOGIN, "anderekantoor")
    before = stored(world, onboarding_id)

    waiting = relink_as(world, onboarding_id, OTHER_ENVIRONMENT_LOGIN)

    assert waiting.screen == EnvironmentConfirmationScreen(
        link_domain="voorbeeld", new_domain="anderekantoor"
    )
    link, companies, token = stored(world, onboarding_id)
    assert (link.account_label, link.environment, link.status) == (
        DEMO_USERNAME,
        {"domain": "voorbeeld"},
        NEEDS_RELINK,
    )
    assert (companies, token) == (before[1], DEMO_TOKEN)
    text = report_text(world, "link_environment_unconfirmed")
    for name in (OTHER_ENVIRONMENT_LOGIN, "anderekantoor", DEMO_USERNAME, "voorbeeld"):
        assert name in text
    assert world.links.open_relink(onboarding_id, CUSTOMER).screen == waiting.screen
    again = world.links.check_again(waiting.ref, CUSTOMER)
    assert again.screen == waiting.screen and stored(world, onboarding_id)[2] == DEMO_TOKEN
    [row] = manager_tools(world).dashboard().relinks
    assert (row.login, row.environment, row.previous_login, row.previous_environment) == (
        OTHER_ENVIRONMENT_LOGIN,
        "anderekantoor",
        DEMO_USERNAME,
        "voorbeeld",
    )


def test_the_account_managers_confirmation_completes_the_relink(world):
    onboarding_id = broken_link(world)
    add_login(world, OTHER_ENVIRONMENT_LOGIN, "anderekantoor")
    relink_as(world, onboarding_id, OTHER_ENVIRONMENT_LOGIN)
    link_id = world.link_id(onboarding_id)

    confirmed = world.links.confirm_environment(link_id, manager=MANAGER)

    assert confirmed is not None and confirmed.client_name == "Bakkerij de Vries"
    assert confirmed.invite is not None and confirmed.invite.companies_linked == 5
    link, companies, token = stored(world, onboarding_id)
    assert (link.account_label, link.environment["domain"]) == (
        OTHER_ENVIRONMENT_LOGIN,
        "anderekantoor",
    )
    assert link_state(link) == ACTIVE and token == OTHER_TOKEN and companies == DEMO_IDS
    text = report_text(world, "link_relinked")
    for name in (OTHER_ENVIRONMENT_LOGIN, "anderekantoor", DEMO_USERNAME, "voorbeeld"):
        assert name in text
    assert f"<@{MANAGER}>" in report_text(world, "link_environment_confirmed")
    assert world.links.confirm_environment(link_id, manager=MANAGER) is None
    assert manager_tools(world).dashboard().relinks == []


def test_nothing_waits_for_a_confirmation_after_a_relink_in_the_own_environment(world):
    onboarding_id = broken_link(world)
    add_login(world, SAME_ENVIRONMENT_LOGIN, "voorbeeld")
    relink_as(world, onboarding_id, SAME_ENVIRONMENT_LOGIN)
    assert world.links.confirm_environment(world.link_id(onboarding_id), manager=MANAGER) is None
    assert stored(world, onboarding_id)[0].account_label == SAME_ENVIRONMENT_LOGIN


def test_instead_of_waiting_the_customer_may_enter_another_login(world):
    onboarding_id = broken_link(world)
    add_login(world, OTHER_ENVIRONMENT_LOGIN, "anderekantoor")
    waiting = relink_as(world, onboarding_id, OTHER_ENVIRONMENT_LOGIN)

    form = world.links.other_login(waiting.ref, CUSTOMER)

    assert isinstance(form.screen, CredentialsScreen)
    with world.storage.unit_of_work() as uow:
        assert uow.onboardings.require(onboarding_id).pending_token is None
    assert world.links.confirm_environment(world.link_id(onboarding_id), manager=MANAGER) is None
    done = world.links.submit_relink(form.ref, CUSTOMER, username=DEMO_USERNAME, token=NEW_TOKEN)
    assert isinstance(done.screen, CompletedScreen)
    assert stored(world, onboarding_id)[0].environment == {"domain": "voorbeeld"}


def test_the_logins_a_relink_audits_are_forgotten_with_the_other_usernames(world):
    onboarding_id = broken_link(world)
    add_login(world, OTHER_ENVIRONMENT_LOGIN, "anderekantoor")
    relink_as(world, onboarding_id, OTHER_ENVIRONMENT_LOGIN)
    world.links.confirm_environment(world.link_id(onboarding_id), manager=MANAGER)
    with world.storage.unit_of_work() as uow:
        before = str([event.detail for event in uow.audit.for_onboarding(onboarding_id)])
        uow.audit.forget_usernames(onboarding_id)
        after = str([event.detail for event in uow.audit.for_onboarding(onboarding_id)])
    assert OTHER_ENVIRONMENT_LOGIN in before and DEMO_USERNAME in before
    assert OTHER_ENVIRONMENT_LOGIN not in after and DEMO_USERNAME not in after
