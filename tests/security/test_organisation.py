"""Only the client's own organisation acts on its onboarding and link: in a channel shared with
our workspace and a third organisation, our own staff and the third organisation's people are
refused the terms, the credentials, the relink and the removal, by signed requests to the served
bot, and nothing changes; the client's own people still can."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.i18n import catalogue
from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.links import (
    ACTION_RELINK,
    ACTION_REMOVE_LINK,
    CALLBACK_LINK_CREDENTIALS,
)
from bot.transports.slack.views.onboarding import (
    ACTION_PACKAGE,
    ACTION_TERMS,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from devslack import DevSlack, SlackUser
from devslack.workspace import CUSTOMER_TEAM, SHARED_CHANNEL, Team, User
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.db import upgrade
from storage.links import ACTIVE, UNLINKED, link_state
from storage.models import Client, LinkedCompany, Onboarding, PayrollLink, TermsAcceptance
from tests.e2e.journey import (
    CUSTOMER,
    MANAGER,
    eventually,
    invite_message,
    invite_says,
    prepare,
    settled,
    start,
    submission_payload,
)
from tests.e2e.test_links import NEW_TOKEN, STATUS, LinkBot, channel_message, completed_onboarding
from tests.served import bot_settings, database_rows

THIRD_TEAM = "T0THIRD"
THIRD = "U0THIRD"  # of a third organisation in the client's shared channel
OUTSIDERS = [MANAGER, THIRD]  # our own staff, and the third organisation
GUARDED_TABLES = [Client, Onboarding, PayrollLink, LinkedCompany, TermsAcceptance]
REFUSED_MODAL = catalogue("nl").text("customer.refused.other_organisation")
REFUSED_ANSWER = catalogue("nl").text("links.answer.refused_other_organisation")


@pytest.fixture
def bot(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[LinkBot]:
    slack.workspace.teams[THIRD_TEAM] = Team(THIRD_TEAM, "Accountantskantoor", "accountant")
    slack.workspace.add_user(User(THIRD, THIRD_TEAM, "ada", "Ada Accountant"))
    channel = slack.workspace.channels[SHARED_CHANNEL]
    channel.members.append(THIRD)
    channel.shared_team_ids.append(THIRD_TEAM)
    upgrade(database_url)
    settings = bot_settings(
        database_url, slack, nmbrs, outbox_channel_interval_seconds=0, outbox_poll_seconds=0.05
    )
    served = LinkBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def guarded_rows(bot: LinkBot) -> dict[str, list[tuple]]:
    assert bot.container is not None
    names = {model.__tablename__ for model in GUARDED_TABLES}
    return {k: v for k, v in database_rows(bot.container.engine).items() if k in names}


def submitted_by(slack: DevSlack, user_id: str, owner: SlackUser, view_id: str) -> None:
    """`owner`'s filled-in modal submitted by `user_id`, with its validly signed metadata."""
    filled = slack.world.submittable(owner.id, view_id)
    slack.endpoint.send_payload(submission_payload(slack, user_id, filled))


def shown_the_refusal(slack: DevSlack, count: tuple[int, int]) -> bool:
    """A refusal drawn in a modal since `count` (Web API calls, deliveries): by a call, or in
    the ack of a step that needs no Nmbrs."""
    calls, deliveries = count
    return any(
        REFUSED_MODAL in str(call.args.get("view"))
        for call in slack.calls()[calls:]
        if call.method in ("views.open", "views.update")
    ) or any(
        REFUSED_MODAL in str(json.loads(d.response_text or "{}"))
        for d in slack.deliveries[deliveries:]
    )


def refused_start(slack: DevSlack, user_id: str) -> None:
    outsider = slack.user(user_id)
    outsider.click(invite_message(outsider), ACTION_START)
    assert REFUSED_MODAL in settled(outsider).text()


def test_only_the_clients_people_start_and_accept_the_terms_which_record_the_clients_team(
    bot, slack, customer, nmbrs
):
    onboarding_id = bot.invite()
    before = guarded_rows(bot)
    for user_id in OUTSIDERS:
        refused_start(slack, user_id)
    assert guarded_rows(bot) == before

    terms = start(customer)
    assert terms.callback_id == CALLBACK_TERMS
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    before = guarded_rows(bot)
    for user_id in OUTSIDERS:
        count = (len(slack.calls()), len(slack.deliveries))
        submitted_by(slack, user_id, customer, terms.id)
        eventually(lambda count=count: shown_the_refusal(slack, count))
    assert guarded_rows(bot) == before
    assert bot.onboarding(onboarding_id).state == "invited"

    customer.submit(terms)
    assert settled(customer).callback_id == CALLBACK_PREPARATION
    with bot.container.unit_of_work() as uow:
        [accepted] = uow.session.exec(select(TermsAcceptance)).all()
    assert (accepted.person_id, accepted.workspace_id) == (CUSTOMER, CUSTOMER_TEAM)
    reported = catalogue("nl").text("reports.refusal.other_organisation")
    channel_message(slack.user(MANAGER), STATUS, f"<@{THIRD}> is geweigerd: {reported}")


def test_only_the_clients_people_enter_the_credentials(bot, slack, customer, nmbrs):
    bot.invite()
    start(customer)
    terms = settled(customer, CALLBACK_TERMS)
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    customer.submit(terms)
    prepare(customer)
    form = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(form, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    before, checks = guarded_rows(bot), len(nmbrs.calls)
    for user_id in OUTSIDERS:
        refused_start(slack, user_id)
        count = (len(slack.calls()), len(slack.deliveries))
        submitted_by(slack, user_id, customer, form.id)
        eventually(lambda count=count: shown_the_refusal(slack, count))
    assert guarded_rows(bot) == before
    assert len(nmbrs.calls) == checks

    customer.submit(form)
    assert settled(customer).callback_id == CALLBACK_COMPANIES


def test_only_the_clients_people_relink(bot, slack, customer, nmbrs):
    onboarding_id = completed_onboarding(bot, customer)
    nmbrs.accounts[DEMO_USERNAME].token = NEW_TOKEN
    bot.container.link_maintenance.verify_all()
    request = channel_message(customer, SHARED_CHANNEL, ACTION_RELINK)
    for user_id in OUTSIDERS:
        outsider = slack.user(user_id)
        outsider.click(channel_message(outsider, SHARED_CHANNEL, ACTION_RELINK), ACTION_RELINK)
        assert REFUSED_MODAL in settled(outsider).text()

    customer.click(request, ACTION_RELINK)
    form = settled(customer, CALLBACK_LINK_CREDENTIALS)
    customer.fill(form, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: NEW_TOKEN})
    before, checks = guarded_rows(bot), len(nmbrs.calls)
    for user_id in OUTSIDERS:
        count = (len(slack.calls()), len(slack.deliveries))
        submitted_by(slack, user_id, customer, form.id)
        eventually(lambda count=count: shown_the_refusal(slack, count))
    assert guarded_rows(bot) == before
    assert len(nmbrs.calls) == checks

    customer.submit(form)
    assert settled(customer).title == "Koppeling voltooid"
    link, _, token = bot.link(onboarding_id)
    assert link_state(link) == ACTIVE and token == NEW_TOKEN


def test_only_the_clients_people_remove_the_link(bot, slack, customer):
    onboarding_id = completed_onboarding(bot, customer)
    before = guarded_rows(bot)
    for user_id in OUTSIDERS:
        outsider = slack.user(user_id)
        outsider.click(invite_message(outsider), ACTION_REMOVE_LINK)
        channel_message(outsider, SHARED_CHANNEL, REFUSED_ANSWER)
    assert guarded_rows(bot) == before
    _, _, token = bot.link(onboarding_id)
    assert token == DEMO_TOKEN

    customer.click(invite_message(customer), ACTION_REMOVE_LINK)
    invite_says(customer, "De koppeling is verwijderd")
    link, _, token = bot.link(onboarding_id)
    assert link_state(link) == UNLINKED and token is None
