"""The account manager's tools, served: `/onboard`, its modal, `/onboard status` and the App Home,
driven through signed requests from the fake Slack, with the outbox worker running as in `serve`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.bootstrap import Container, build_container, outbox_worker, slack_app
from bot.i18n import catalogue
from bot.reports import StatusNotices, status_notices
from bot.schedule import running_in_background
from bot.settings import Settings
from bot.transports.slack.http import create_asgi_app
from bot.transports.slack.views.home import (
    ACTION_CANCEL,
    ACTION_LIFT_BLOCK,
    ACTION_RESEND,
    ACTION_UNLINK,
)
from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.manager import (
    ACTION_REPLACE,
    ACTION_RESEND_RUNNING,
    ACTION_RETRY,
    CALLBACK_RESULT,
    CALLBACK_START,
    help_text,
    refusal_text,
)
from devslack import DevSlack, SlackUser
from devslack.server import serve_asgi
from devslack.workspace import OUR_TEAM, Channel, User
from payroll.nmbrs_soap.model import Company
from storage.crypto import generate_key
from storage.db import upgrade
from storage.models import AuditEvent, Client, Onboarding, OutboxMessage

MANAGER = "U0MANAGER"
CUSTOMER = "U0CUSTOMER"
SHARED = "C0SHARED"
STATUS = "C0STATUS"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
NL = catalogue("nl")


@dataclass
class ManagerBot:
    """The served bot with the account manager's listeners, the reports and the outbox worker."""

    settings: Settings
    slack: DevSlack
    container: Container | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        container = build_container(self.settings)
        if not any(isinstance(s, StatusNotices) for s in container.event_bus._subscribers):
            container.event_bus.subscribe(status_notices(self.settings))
        bolt = slack_app(container)
        asgi = create_asgi_app(bolt, health_check=container.check_database)

        @asynccontextmanager
        async def lifespan(_app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
            async with running_in_background([outbox_worker(container).run]):
                yield

        asgi.router.lifespan_context = lifespan
        url = self._stack.enter_context(serve_asgi(asgi))
        self.slack.connect(f"{url}/slack/events")
        self.container = container

    def stop(self) -> None:
        self._stack.close()
        if self.container is not None:
            self.container.close()

    def rows(self, model, *where):  # type: ignore[no-untyped-def]
        assert self.container is not None
        with Session(self.container.engine) as session:
            return list(session.exec(select(model).where(*where).order_by(model.id)))

    def onboardings(self) -> list[Onboarding]:
        return self.rows(Onboarding)

    def audit(self, kind: str) -> list[AuditEvent]:
        return self.rows(AuditEvent, AuditEvent.kind == kind)

    def reports(self) -> list[str]:
        return [row.kind for row in self.rows(OutboxMessage) if row.kind.startswith("report.")]


def bot_settings(database_url: str, slack: DevSlack, **overrides: object) -> Settings:
    """Settings of a served bot on a migrated database, talking to the fake Slack."""
    upgrade(database_url)
    values = dict(
        _env_file=None,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        database_url=database_url,
        encryption_keys=generate_key(),
        nmbrs_api="soap",
        nmbrs_base_url="http://127.0.0.1:9",
        status_channel=STATUS,
        account_manager_group="S0MANAGERS",
        terms_url="https://example.com/voorwaarden",
        support_phone="020 123 45 67",
        outbox_channel_interval_seconds=0,
        outbox_poll_seconds=0.05,
    )
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(database_url: str, slack: DevSlack) -> Settings:
    return bot_settings(database_url, slack)


@pytest.fixture
def served(settings: Settings, slack: DevSlack) -> Iterator[ManagerBot]:
    bot = ManagerBot(settings=settings, slack=slack)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


@pytest.fixture
def manager(slack: DevSlack) -> SlackUser:
    return slack.user(MANAGER)


def open_start_modal(person: SlackUser, channel: str = SHARED):
    person.command("/onboard", channel=channel)
    return person.wait_for_modal(lambda view: view.callback_id == CALLBACK_START)


def fill_and_submit(person: SlackUser, view, **values) -> None:
    fields = {
        "client_name.value": values.get("client", "Bakkerij de Vries"),
        "channel.value": values.get("channel", SHARED),
        "language.value": values.get("language", "nl"),
    }
    if values.get("contact"):
        fields["contact.value"] = values["contact"]
    person.fill(view, fields)
    person.submit(view)


def result(person: SlackUser, title_key: str):
    title = NL.text(f"manager.result.{title_key}")
    return person.wait_for_modal(
        lambda view: view.callback_id == CALLBACK_RESULT and view.title == title
    )


def invites(slack: DevSlack, channel: str = SHARED) -> list:
    return [m for m in slack.messages(channel) if ACTION_START in json.dumps(m.blocks)]


def status_posts(slack: DevSlack) -> list[str]:
    """The reports: the replies in the status channel's threads (one per onboarding)."""
    return [m.text for m in slack.messages(STATUS) if m.thread_ts is not None]


def wait_for_reports(slack: DevSlack, count: int) -> list[str]:
    return slack.wait_for(lambda: len(status_posts(slack)) >= count and status_posts(slack))


# --- /onboard -----------------------------------------------------------------------------


def test_an_account_manager_starts_an_onboarding_and_the_invite_appears_in_the_channel(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    view = open_start_modal(manager)
    fill_and_submit(manager, view, contact=CUSTOMER, language="en")

    done = result(manager, "title_started")
    assert "Bakkerij de Vries" in json.dumps(done.blocks)
    [invite] = invites(slack)
    assert invite.text  # the customer's invite, in English
    dm = slack.wait_for(lambda: slack.messages("D" + CUSTOMER[1:]))
    assert "Bakkerij de Vries" in dm[0].text
    [onboarding] = served.onboardings()
    assert (onboarding.state, onboarding.started_by) == ("invited", MANAGER)
    [client] = served.rows(Client)
    assert (client.language, client.workspace_id) == ("en", "T0CUSTOMER")
    [report] = wait_for_reports(slack, 1)
    assert "Bakkerij de Vries" in report and f"<#{SHARED}>" in report


def test_an_external_user_is_refused_and_nothing_is_created(
    served: ManagerBot, slack: DevSlack
) -> None:
    customer = slack.user(CUSTOMER)
    customer.command("/onboard", channel=SHARED)

    refusal = refusal_text("nl", "external")
    customer.wait_for_message(SHARED, lambda message: message.text == refusal)
    assert customer.modal is None
    assert slack.calls("views.open") == []
    assert served.onboardings() == []
    assert [m.text for m in slack.user(MANAGER).messages(SHARED)] == []  # only they saw it


def test_outside_the_account_manager_group_is_refused(settings: Settings, slack: DevSlack) -> None:
    slack.workspace.add_user(User("U0COLLEAGUE", OUR_TEAM, "kees", "Kees Collega"))
    slack.workspace.channels[SHARED].members.append("U0COLLEAGUE")
    bot = ManagerBot(
        settings=settings.model_copy(update={"account_manager_group": "S0MANAGERS"}), slack=slack
    )
    bot.start()
    try:
        colleague = slack.user("U0COLLEAGUE")
        colleague.command("/onboard", channel=SHARED)
        refusal = refusal_text("nl", "not_in_group")
        colleague.wait_for_message(SHARED, lambda message: message.text == refusal)
        open_start_modal(slack.user(MANAGER))  # a group member gets the modal
        assert bot.onboardings() == []
    finally:
        bot.stop()


def test_with_no_group_set_nobody_is_an_account_manager(
    settings: Settings, slack: DevSlack
) -> None:
    bot = ManagerBot(
        settings=settings.model_copy(update={"account_manager_group": ""}), slack=slack
    )
    bot.start()
    try:
        manager = slack.user(MANAGER)
        manager.command("/onboard", channel=SHARED)
        refusal = refusal_text("nl", "not_in_group")
        manager.wait_for_message(SHARED, lambda message: message.text == refusal)
        assert manager.modal is None
        assert slack.calls("usergroups.users.list") == [], "no group, nothing to look up"
    finally:
        bot.stop()


def test_a_star_makes_every_full_member_of_our_workspace_an_account_manager(
    settings: Settings, slack: DevSlack
) -> None:
    slack.workspace.add_user(User("U0COLLEAGUE", OUR_TEAM, "kees", "Kees Collega"))
    slack.workspace.channels[SHARED].members.append("U0COLLEAGUE")
    bot = ManagerBot(
        settings=settings.model_copy(update={"account_manager_group": "*"}), slack=slack
    )
    bot.start()
    try:
        open_start_modal(slack.user("U0COLLEAGUE"))
        customer = slack.user(CUSTOMER)
        customer.command("/onboard", channel=SHARED)
        refusal = refusal_text("nl", "external")
        customer.wait_for_message(SHARED, lambda message: message.text == refusal)
    finally:
        bot.stop()


def test_help_and_unknown_text_explain_the_command(served: ManagerBot, manager: SlackUser) -> None:
    help = help_text("nl")
    for text in ("help", "wat kan dit?"):
        manager.command("/onboard", text, channel=SHARED)
    helps = [m for m in manager.messages(SHARED) if m.text == help]
    assert len(helps) == 2
    assert manager.modal is None


def test_a_bot_outside_the_channel_is_explained_and_try_again_works_once_it_is_added(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    slack.workspace.add_channel(
        Channel(
            "C0NOBOT",
            "bakker-jansen",
            [MANAGER, CUSTOMER],
            shared_team_ids=[OUR_TEAM, "T0CUSTOMER"],
        )
    )
    view = open_start_modal(manager)
    fill_and_submit(manager, view, channel="C0NOBOT")

    told = result(manager, "title_not_in_channel")
    assert "/invite @onboard-bot" in json.dumps(told.blocks)
    assert served.onboardings() == []

    slack.workspace.channels["C0NOBOT"].members.append("U0BOT")
    manager.click(told, ACTION_RETRY)
    result(manager, "title_started")
    assert len(invites(slack, "C0NOBOT")) == 1
    assert len(served.onboardings()) == 1


def test_a_channel_not_shared_with_another_organisation_gets_a_warning(
    served: ManagerBot, manager: SlackUser
) -> None:
    view = open_start_modal(manager, channel=STATUS)
    fill_and_submit(manager, view, channel=STATUS)

    done = result(manager, "title_started")
    assert "niet gedeeld met een externe organisatie" in json.dumps(done.blocks)


def test_a_direct_message_that_fails_is_reported_and_the_invite_stands(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    slack.fail("conversations.open", error="cannot_dm_external")
    view = open_start_modal(manager)
    fill_and_submit(manager, view, contact=CUSTOMER)

    done = result(manager, "title_started")
    assert "cannot_dm_external" in json.dumps(done.blocks)
    assert len(invites(slack)) == 1


def test_a_second_onboarding_for_a_channel_offers_resend_or_replace(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    fill_and_submit(manager, open_start_modal(manager))
    result(manager, "title_started")
    manager.close(everything=True)

    fill_and_submit(manager, open_start_modal(manager), client="Bakkerij de Vries BV")
    offer = result(manager, "title_running")
    assert len(served.onboardings()) == 1

    manager.click(offer, ACTION_RESEND_RUNNING)
    result(manager, "title_resent")
    copies = [
        m
        for m in slack.messages(SHARED)
        if (m.metadata or {}).get("event_type") == "onboarding_invite"
    ]
    assert len(copies) == 2
    slack.wait_for(lambda: len(invites(slack)) == 1)  # the older copy lost its buttons
    assert len(served.audit("invite_resent")) == 1
    manager.close(everything=True)

    fill_and_submit(manager, open_start_modal(manager), client="Bakkerij de Vries BV")
    manager.click(result(manager, "title_running"), ACTION_REPLACE)
    result(manager, "title_started")
    first, second = served.onboardings()
    assert (first.state, second.state) == ("cancelled", "invited")
    reports = slack.wait_for(lambda: len(served.reports()) >= 4 and served.reports())
    assert reports == [
        "report.invite_created",
        "report.invite_resent",
        "report.onboarding_cancelled",
        "report.invite_created",
    ]


def test_the_client_name_is_required(served: ManagerBot, manager: SlackUser) -> None:
    view = open_start_modal(manager)
    fill_and_submit(manager, view, client="   ")
    errors = manager.modal.errors  # type: ignore[union-attr]
    assert errors == {"client_name": NL.text("manager.start.client_required")}
    assert served.onboardings() == []


# --- status and the App Home ----------------------------------------------------------------


def make_onboarding(bot: ManagerBot, name: str, channel: str, *, days_idle: int) -> int:
    assert bot.container is not None
    status = bot.container.onboarding.create_invite(
        client_name=name, channel_id=channel, team_id="T0CUSTOMER", started_by=MANAGER
    )
    with bot.container.unit_of_work() as uow:
        onboarding = uow.onboardings.require(status.onboarding_id)
        moment = bot.container.clock.now() - timedelta(days=days_idle)
        onboarding.created_at = onboarding.last_progress_at = onboarding.updated_at = moment
        uow.commit()
    return status.onboarding_id


def test_status_lists_the_open_onboardings_stalled_first(
    served: ManagerBot, manager: SlackUser
) -> None:
    make_onboarding(served, "Vers", "C0A", days_idle=0)
    make_onboarding(served, "Vastgelopen", "C0B", days_idle=9)

    manager.command("/onboard", "status", channel=STATUS)

    answer = manager.wait_for_message(STATUS, lambda m: "Open onboardings" in m.text)
    rows = [block["text"]["text"] for block in answer.blocks[1:]]
    assert rows[0].startswith("🔴 *Vastgelopen*") and "gestart 9 dagen geleden" in rows[0]
    assert rows[1].startswith("🟢 *Vers*")
    assert answer.visible_to == MANAGER


def home_text(person: SlackUser) -> str:
    return json.dumps(person.home.blocks) if person.home else ""


def test_the_app_home_shows_the_overview_and_refuses_others(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    make_onboarding(served, "Bakkerij de Vries", SHARED, days_idle=5)

    manager.open_home()
    home = manager.wait_for_home()
    assert "Bakkerij de Vries" in json.dumps(home.blocks)
    assert ACTION_RESEND in json.dumps(home.blocks) and ACTION_CANCEL in json.dumps(home.blocks)

    stranger = slack.user(CUSTOMER)
    stranger.open_home()
    refused = stranger.wait_for_home()
    assert "Bakkerij" not in json.dumps(refused.blocks)
    assert NL.text("manager.home.not_a_manager") in json.dumps(refused.blocks)


def test_resend_cancel_lift_and_unlink_from_the_app_home_work_and_are_audited(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    assert served.container is not None
    blocked = make_onboarding(served, "Geblokkeerd", "C0A", days_idle=1)
    with served.container.unit_of_work() as uow:
        uow.onboardings.require(blocked).blocked_until = served.container.clock.now() + timedelta(
            hours=1
        )
        uow.commit()
    make_onboarding(served, "Bakkerij de Vries", SHARED, days_idle=1)
    finished = make_onboarding(served, "Klaar BV", "C0B", days_idle=2)
    with served.container.unit_of_work() as uow:
        onboarding = uow.onboardings.require(finished)
        onboarding.state = "completed"
        link = uow.links.create(
            onboarding=onboarding,
            username="loon@klaar.nl",
            token=TOKEN,
            domain="klaar",
            companies=[Company(id=1, number=1, name="Klaar BV")],
        )
        uow.commit()

    manager.open_home()
    home = manager.wait_for_home(lambda view: "Geblokkeerd" in json.dumps(view.blocks))

    manager.click(home, f"onboarding_{blocked}.{ACTION_LIFT_BLOCK}")
    home = manager.wait_for_home(lambda view: "opgeheven" in json.dumps(view.blocks))
    assert served.onboardings()[0].blocked_until is None

    shared = served.onboardings()[1].id
    manager.click(home, f"onboarding_{shared}.{ACTION_RESEND}")
    home = manager.wait_for_home(lambda view: "opnieuw geplaatst" in json.dumps(view.blocks))
    assert len(invites(slack)) == 1

    manager.click(home, f"onboarding_{shared}.{ACTION_CANCEL}")
    home = manager.wait_for_home(lambda view: "gestopt" in json.dumps(view.blocks))
    assert served.onboardings()[1].state == "cancelled"
    slack.wait_for(lambda: invites(slack) == [])  # the invite lost its Start button

    manager.click(home, f"link_{link.id}.{ACTION_UNLINK}")
    manager.wait_for_home(lambda view: "verwijderd" in json.dumps(view.blocks))
    with served.container.unit_of_work() as uow:
        stored = uow.links.require(link.id)
        assert stored.encrypted_secret is None and stored.revoked_at is not None

    for kind in (
        "credential_block_lifted",
        "invite_resent",
        "onboarding_cancelled",
        "link_unlinked",
    ):
        assert [event.actor for event in served.audit(kind)] == [MANAGER], kind
    expected = [
        "report.invite_created",
        "report.invite_created",
        "report.invite_created",
        "report.credential_block_lifted",
        "report.invite_resent",
        "report.onboarding_cancelled",
        "report.link_unlinked",
    ]
    assert slack.wait_for(lambda: served.reports() == expected and served.reports())
    posted = wait_for_reports(slack, len(expected))
    assert all(TOKEN not in text for text in posted)


def test_an_uninstall_stops_all_sending(served: ManagerBot, slack: DevSlack) -> None:
    slack.send_event({"type": "app_uninstalled", "event_ts": "1.0"})
    slack.wait_for(lambda: served.audit("app_uninstalled"))

    make_onboarding(served, "Na de deïnstallatie", SHARED, days_idle=0)

    assert served.reports() == ["report.invite_created"]
    assert served.rows(OutboxMessage)[0].status == "pending"
    assert status_posts(slack) == []


def test_the_command_and_the_app_home_share_one_look_at_who_we_are(
    served: ManagerBot, slack: DevSlack, manager: SlackUser
) -> None:
    open_start_modal(manager)
    manager.open_home()
    manager.wait_for_home()
    manager.open_home()
    manager.wait_for_home()

    # bolt's own authorization asks once, the account manager's gate once for both surfaces.
    assert len(slack.calls("auth.test")) == 2
