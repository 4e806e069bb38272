"""Issue 8, served: verification, relink, company changes and customer stop, driven by signed
requests from the fake Slack, with the Nmbrs sandbox over HTTP, the outbox worker running as in
`serve`, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from sqlmodel import Session, select

from bot.bootstrap import build_container, create_asgi_app_for, outbox_worker
from bot.schedule import running_in_background
from bot.transports.slack.views.links import (
    ACTION_CHANGE_COMPANIES,
    ACTION_RELINK,
    ACTION_REMOVE_LINK,
    ACTION_STOP,
    CALLBACK_LINK_COMPANIES,
    CALLBACK_LINK_CREDENTIALS,
    CALLBACK_LINK_OVER_ACCESS,
)
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANIES,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_COMPANIES,
)
from devslack import DevSlack, SlackUser, serve_asgi
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.db import upgrade
from storage.links import ACTIVE, UNLINKED, link_state
from storage.models import OutboxMessage
from tests.e2e.journey import (
    CHANNEL,
    MANAGER,
    ServedBot,
    enter_credentials,
    eventually,
    invite_message,
    invite_says,
    logged_text,
    settled,
    slack_traffic,
    to_credentials,
)
from tests.served import bot_settings

STATUS = "C0STATUS"
NEW_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
DEMO_IDS = ["48201", "48202", "48203", "48204", "48205"]


class LinkBot(ServedBot):
    """The served bot with the outbox worker beside it, as `serve` runs it."""

    def start(self) -> None:
        container = build_container(self.settings)
        asgi = create_asgi_app_for(container)

        @asynccontextmanager
        async def lifespan(_app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
            async with running_in_background([outbox_worker(container).run]):
                yield

        asgi.router.lifespan_context = lifespan
        url = self._stack.enter_context(serve_asgi(asgi))
        self.url = url
        self.slack.connect(f"{url}/slack/events")
        self.container = container

    def link(self, onboarding_id: int):
        assert self.container is not None
        with self.container.unit_of_work() as uow:
            link = uow.links.for_onboarding(onboarding_id)
            companies = [row.provider_company_ref for row in uow.links.companies(link.id)]
            return link, companies, uow.links.token(link)

    def sent(self, channel: str) -> list[OutboxMessage]:
        assert self.container is not None
        with Session(self.container.engine) as session:
            rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [row for row in rows if row.recipient == channel]


@pytest.fixture
def bot(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[LinkBot]:
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


def completed_onboarding(bot: LinkBot, customer: SlackUser, companies=DEMO_IDS) -> int:
    onboarding_id = bot.invite()
    to_credentials(customer)
    choice = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert choice.callback_id == CALLBACK_COMPANIES
    customer.fill(choice, {ACTION_COMPANIES: list(companies)})
    customer.submit(choice)
    assert settled(customer).title == "Koppeling voltooid"
    invite_says(customer, "Koppeling voltooid")
    return onboarding_id


def channel_message(person: SlackUser, channel: str, text: str):
    return person.wait_for_message(
        channel, lambda message: text in str(message.blocks) + message.text
    )


def test_a_revoked_token_is_reported_once_and_the_customer_relinks(
    bot, slack, customer, nmbrs, all_logs
):
    onboarding_id = completed_onboarding(bot, customer)
    link_before, _, _ = bot.link(onboarding_id)
    nmbrs.accounts[DEMO_USERNAME].token = NEW_TOKEN

    first = bot.container.link_maintenance.verify_all()
    second = bot.container.link_maintenance.verify_all()
    assert [(r.outcome, r.reported) for r in first + second] == [
        ("needs_relink", True),
        ("needs_relink", False),
    ]

    request = channel_message(customer, CHANNEL, ACTION_RELINK)
    assert "werkt niet meer" in str(request.blocks)
    operations = slack.user(MANAGER)
    channel_message(operations, STATUS, "moet opnieuw")

    customer.click(request, ACTION_RELINK)
    form = settled(customer, CALLBACK_LINK_CREDENTIALS)
    assert "Opnieuw koppelen" in form.text()
    customer.fill(form, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: f"{NEW_TOKEN}\n"})
    customer.submit(form)
    done = settled(customer)
    assert done.title == "Koppeling voltooid"
    assert "Bakkerij De Gouden Korst B.V." in done.text()

    link, companies, token = bot.link(onboarding_id)
    assert link.id == link_before.id and link_state(link) == ACTIVE
    assert token == NEW_TOKEN and companies == DEMO_IDS
    channel_message(operations, STATUS, "opnieuw gekoppeld door <@U0CUSTOMER>")
    eventually(lambda: ACTION_RELINK not in str(customer.messages(CHANNEL)))
    assert [row.kind for row in bot.sent(STATUS)][-2:] == [
        "report.link_needs_relink",
        "report.link_relinked",
    ]
    traffic = slack_traffic(slack) + logged_text(all_logs)
    assert NEW_TOKEN not in traffic and DEMO_TOKEN not in traffic


def test_a_wrong_token_on_relink_shows_the_form_again(bot, customer, nmbrs):
    onboarding_id = completed_onboarding(bot, customer)
    nmbrs.accounts[DEMO_USERNAME].token = NEW_TOKEN
    bot.container.link_maintenance.verify_all()
    customer.click(channel_message(customer, CHANNEL, ACTION_RELINK), ACTION_RELINK)
    form = settled(customer, CALLBACK_LINK_CREDENTIALS)
    customer.fill(form, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: "not-the-token"})
    customer.submit(form)
    again = settled(customer, CALLBACK_LINK_CREDENTIALS)
    assert "nog 4 keer" in again.text()
    _, _, token = bot.link(onboarding_id)
    assert token == DEMO_TOKEN


def test_the_customer_removes_a_company_then_adds_it_again(bot, slack, customer):
    onboarding_id = completed_onboarding(bot, customer)

    customer.click(invite_message(customer), ACTION_CHANGE_COMPANIES)
    choice = settled(customer, CALLBACK_LINK_COMPANIES)
    assert "5 bedrijven" in choice.text()
    customer.fill(choice, {ACTION_COMPANIES: DEMO_IDS[:4]})
    customer.submit(choice)
    warning = settled(customer, CALLBACK_LINK_OVER_ACCESS)
    assert "Installatiebedrijf Jansen Techniek B.V." in warning.text()
    customer.submit(warning)
    assert settled(customer).title == "Koppeling voltooid"
    invite_says(customer, "4 bedrijven")
    assert bot.link(onboarding_id)[1] == DEMO_IDS[:4]

    customer.click(invite_message(customer), ACTION_CHANGE_COMPANIES)
    choice = settled(customer, CALLBACK_LINK_COMPANIES)
    customer.fill(choice, {ACTION_COMPANIES: DEMO_IDS})
    customer.submit(choice)
    assert settled(customer).title == "Koppeling voltooid"
    invite_says(customer, "5 bedrijven")
    assert bot.link(onboarding_id)[1] == DEMO_IDS

    operations = slack.user(MANAGER)
    channel_message(operations, STATUS, "Erbij: Installatiebedrijf Jansen Techniek B.V.")
    assert [row.kind for row in bot.sent(STATUS)][-3:] == [
        "report.link_over_access_warned",
        "report.link_companies_changed",
        "report.link_companies_changed",
    ]


def test_the_customer_stops_the_onboarding_and_the_manager_is_told(bot, slack, customer):
    onboarding_id = bot.invite()
    customer.click(invite_message(customer), ACTION_STOP)

    invite_says(customer, "gestopt")
    channel_message(customer, CHANNEL, "De onboarding is gestopt")
    assert bot.onboarding(onboarding_id).state == "cancelled"
    manager = slack.user(MANAGER)
    dm = channel_message(manager, "D0MANAGER", "gestopt")
    assert "<@U0CUSTOMER>" in dm.text
    channel_message(manager, STATUS, "gestopt door <@U0CUSTOMER>")
    assert ACTION_STOP not in str(invite_message(customer).blocks)


def test_stopping_needs_the_confirmation(bot, customer):
    onboarding_id = bot.invite()
    assert customer.click(invite_message(customer), ACTION_STOP, confirm=False) is None
    assert bot.onboarding(onboarding_id).state == "invited"


def test_the_customer_removes_the_link_its_token_is_erased_at_once(bot, slack, customer):
    onboarding_id = completed_onboarding(bot, customer)
    customer.click(invite_message(customer), ACTION_REMOVE_LINK)

    invite_says(customer, "De koppeling is verwijderd")
    link, _, token = bot.link(onboarding_id)
    assert link_state(link) == UNLINKED and token is None
    manager = slack.user(MANAGER)
    channel_message(manager, "D0MANAGER", "verwijderd")
    channel_message(manager, STATUS, "koppeling verwijderd door <@U0CUSTOMER>")
    assert ACTION_CHANGE_COMPANIES not in str(invite_message(customer).blocks)
