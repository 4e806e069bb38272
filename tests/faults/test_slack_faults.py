"""Slack's Web API rate-limiting (429), failing (500) or not answering in time, for every call
the bot makes: a 429 or 500 is retried (after Retry-After) and the person ends where they would
have without it; a timeout ends in a clear message, and the onboarding's state is never lost.

Slack faults do not depend on the database, so these run on SQLite only; every test gets a
fresh bot, as the bot caches who it is, channel members and the managers' group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.i18n import catalogue
from bot.transports.slack.views.manager import (
    ACTION_RESEND_RUNNING,
    CALLBACK_RESULT,
    CALLBACK_START,
)
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANIES,
    CALLBACK_COMPANIES,
    CALLBACK_TERMS,
    not_opened_text,
)
from devslack import DevSlack, SlackUser
from devslack.workspace import MANAGER
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.db import upgrade
from tests.e2e.journey import (
    CHANNEL,
    CUSTOMER,
    ServedBot,
    enter_credentials,
    invite_message,
    invite_says,
    settled,
    start,
    to_credentials,
)
from tests.served import bot_settings, database_rows

# A busy 2-core machine can take over half a second for an ordinary Web API answer, so the
# bot's timeout leaves room for that, and a "too slow" answer comes well after it.
SLACK_TIMEOUT = 1.5
TOO_SLOW = 3.0
ALL_COMPANIES = ["48201", "48202", "48203", "48204", "48205"]
NL = catalogue("nl")

# The Web API methods each side of the conversation calls.
CUSTOMER_CALLS = ("views.open", "views.update", "chat.update", "conversations.members")
# (chat.postEphemeral, only used when a modal cannot open, has a test of its own.)
MANAGER_CALLS = (
    "users.info",
    "auth.test",
    "usergroups.users.list",
    "views.open",
    "conversations.info",
    "chat.postMessage",
    "conversations.open",
    "views.update",
    "views.publish",
)


@pytest.fixture
def fresh_bot(tmp_path, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[ServedBot]:
    database_url = f"sqlite:///{tmp_path / 'onboarding.db'}"
    upgrade(database_url)
    settings = bot_settings(
        database_url,
        slack,
        nmbrs,
        slack_timeout_seconds=SLACK_TIMEOUT,
        account_manager_group="S0MANAGERS",
    )
    served = ServedBot(settings=settings, slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def manager(slack: DevSlack) -> SlackUser:
    return slack.user(MANAGER)


def start_again(customer: SlackUser):  # type: ignore[no-untyped-def]
    """Start on the invite (not on a later message of the bot, such as an error)."""
    invite = customer.wait_for_message(
        CHANNEL, lambda m: "start_onboarding" in json.dumps(m.blocks)
    )
    customer.click(invite, "start_onboarding")
    return settled(customer)


def faults_hit(slack: DevSlack, methods: tuple[str, ...], status: int) -> dict[str, bool]:
    return {method: any(c.status == status for c in slack.calls(method)) for method in methods}


def onboard_completely(bot: ServedBot, customer: SlackUser, onboarding_id: int) -> None:
    to_credentials(customer)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: ALL_COMPANIES})
    customer.submit(companies)
    assert settled(customer).title == "Connected"
    invite_says(customer, "Connected by")
    assert bot.onboarding(onboarding_id).state == "completed"
    assert bot.link_count() == 1


def start_for_the_shared_channel(manager: SlackUser) -> None:
    if manager.modal is None or manager.modal.callback_id != CALLBACK_START:
        manager.command("/onboard", channel=CHANNEL)
    view = manager.wait_for_modal(lambda v: v.callback_id == CALLBACK_START, timeout=10)
    manager.fill(
        view,
        {
            "client_name.value": "Bakkerij de Vries",
            "channel.value": CHANNEL,
            "language.value": "en",
            "contact.value": CUSTOMER,
        },
    )
    manager.submit(view)


def started(manager: SlackUser):  # type: ignore[no-untyped-def]
    title = NL.text("manager.result.title_started")
    return manager.wait_for_modal(
        lambda v: v.callback_id == CALLBACK_RESULT and v.title == title, timeout=15
    )


@pytest.mark.parametrize("status", [429, 500])
def test_the_customer_onboards_although_every_call_is_refused_once(
    fresh_bot: ServedBot, slack: DevSlack, customer: SlackUser, status: int
) -> None:
    onboarding_id = fresh_bot.invite(language="en")
    for method in CUSTOMER_CALLS:
        slack.fail(method, status=status, retry_after=1)
    onboard_completely(fresh_bot, customer, onboarding_id)
    assert faults_hit(slack, CUSTOMER_CALLS, status) == dict.fromkeys(CUSTOMER_CALLS, True)


@pytest.mark.parametrize("status", [429, 500])
def test_the_manager_starts_an_onboarding_although_every_call_is_refused_once(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser, status: int
) -> None:
    for method in MANAGER_CALLS:
        slack.fail(method, status=status, retry_after=1)
    manager.command("/onboard", channel=CHANNEL)
    failure = NL.text("manager.command.failed")
    slack.wait_for(
        lambda: (
            manager.modal is not None or any(m.text == failure for m in manager.messages(CHANNEL))
        ),
        timeout=10,
    )
    # Slack's trigger lives 3 s: after retried lookups it can be gone; the manager is told.
    start_for_the_shared_channel(manager)
    started(manager)
    manager.open_home()
    home = manager.wait_for_home(lambda v: "Bakkerij de Vries" in json.dumps(v.blocks), timeout=10)
    assert home is not None
    invites = [m for m in slack.messages(CHANNEL) if "start_onboarding" in json.dumps(m.blocks)]
    assert len(invites) == 1
    dm = slack.wait_for(lambda: slack.messages("D" + CUSTOMER[1:]))
    assert len(dm) == 1
    assert faults_hit(slack, MANAGER_CALLS, status) == dict.fromkeys(MANAGER_CALLS, True)


@pytest.mark.parametrize("status", [429, 500])
def test_the_note_that_the_modal_did_not_open_is_retried_too(
    fresh_bot: ServedBot, slack: DevSlack, customer: SlackUser, status: int
) -> None:
    """Slack refuses the modal (its trigger expired); the ephemeral note saying so is refused
    once, and arrives."""
    fresh_bot.invite(language="en")
    slack.fail("views.open", error="expired_trigger_id")
    slack.fail("chat.postEphemeral", status=status, retry_after=1)
    customer.click(invite_message(customer), "start_onboarding")
    note = not_opened_text("en")
    customer.wait_for_message(CHANNEL, lambda message: message.text == note)
    assert faults_hit(slack, ("chat.postEphemeral",), status) == {"chat.postEphemeral": True}


@pytest.mark.parametrize("status", [429, 500])
def test_a_reply_through_the_response_url_is_retried(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser, status: int
) -> None:
    """`/onboard status` answers through its response_url, refused once: asked again, shown."""
    slack.fail("response_url", status=status, retry_after=1)
    manager.command("/onboard", "status", channel=CHANNEL)
    reply = manager.wait_for_message(CHANNEL, lambda message: bool(message.text), timeout=10)
    assert [call.status for call in slack.calls("response_url")] == [status, 200]
    assert len(manager.messages(CHANNEL)) == 1 and reply.text


# --- timeouts: Slack does not answer in time -------------------------------------------------


def test_start_when_views_open_times_out(
    fresh_bot: ServedBot, slack: DevSlack, customer: SlackUser
) -> None:
    onboarding_id = fresh_bot.invite(language="en")
    slack.slow("views.open", TOO_SLOW)
    customer.click(invite_message(customer), "start_onboarding")
    told = NL.text("manager.command.failed")  # the language of the client is not known yet
    customer.wait_for_message(CHANNEL, lambda message: message.text == told)
    assert fresh_bot.onboarding(onboarding_id).state == "invited"
    assert start_again(customer).callback_id == CALLBACK_TERMS


def test_a_reply_through_the_response_url_that_times_out_is_sent_again(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser
) -> None:
    """A reply is ephemeral: shown twice (the late one arrives too) does less harm than never."""
    slack.slow("response_url", TOO_SLOW)
    manager.command("/onboard", "status", channel=CHANNEL)
    slack.wait_for(lambda: len(slack.calls("response_url")) == 2, timeout=10)
    assert all(call.status == 200 for call in slack.calls("response_url"))
    assert manager.messages(CHANNEL)


def test_credentials_when_the_next_screen_times_out(
    fresh_bot: ServedBot, slack: DevSlack, customer: SlackUser
) -> None:
    """views.update after the check times out: tried again, the right screen arrives."""
    onboarding_id = fresh_bot.invite(language="en")
    to_credentials(customer)
    slack.slow("views.update", TOO_SLOW)
    assert enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN).callback_id == CALLBACK_COMPANIES
    assert fresh_bot.onboarding(onboarding_id).state == "credentials_verified"


def test_a_step_when_redrawing_the_invite_times_out(
    fresh_bot: ServedBot, slack: DevSlack, customer: SlackUser
) -> None:
    """The invite's redraw is best effort: the customer's screen is not touched by its failure."""
    onboarding_id = fresh_bot.invite(language="en")
    to_credentials(customer)
    redraws = len(slack.calls("chat.update"))
    slack.slow("chat.update", TOO_SLOW)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert companies.callback_id == CALLBACK_COMPANIES
    slack.wait_for(lambda: len(slack.calls("chat.update")) > redraws)  # answered, too late
    assert customer.modal.callback_id == CALLBACK_COMPANIES
    assert fresh_bot.onboarding(onboarding_id).state == "credentials_verified"


def test_a_step_when_reading_the_channel_members_times_out(
    fresh_bot: ServedBot, slack: DevSlack, customer: SlackUser
) -> None:
    onboarding_id = fresh_bot.invite(language="en")
    slack.slow("conversations.members", TOO_SLOW)
    shown = start(customer)
    assert shown.title == "Something went wrong"
    assert fresh_bot.onboarding(onboarding_id).state == "invited"
    assert start(customer).callback_id == CALLBACK_TERMS


@pytest.mark.parametrize("method", ["users.info", "views.open"])
def test_the_manager_is_told_when_onboard_times_out_and_can_try_again(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser, method: str
) -> None:
    """Checking the account manager (users.info) or opening the modal gets no answer."""
    slack.slow(method, TOO_SLOW)
    manager.command("/onboard", channel=CHANNEL)
    told = "refused_unknown" if method == "users.info" else "failed"
    text = NL.text(f"manager.command.{told}")
    manager.wait_for_message(CHANNEL, lambda message: message.text == text)
    slack.clear_faults()
    if manager.modal is not None:  # Slack opened it after all, too late to say so
        manager.close(everything=True)
    start_for_the_shared_channel(manager)
    started(manager)


@pytest.mark.parametrize(
    ("method", "then"),
    [
        ("conversations.info", "title_started"),
        # The invite may have been posted after all: starting again finds the onboarding
        # running and offers to post it again (or replace it).
        ("chat.postMessage", "title_running"),
    ],
)
def test_the_manager_is_told_when_starting_times_out_and_can_try_again(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser, method: str, then: str
) -> None:
    """Reading the channel or posting the invite gets no answer."""
    slack.slow(method, TOO_SLOW)
    start_for_the_shared_channel(manager)
    failed = NL.text("manager.result.title_failed")
    manager.wait_for_modal(lambda view: view.title == failed, timeout=10)
    slack.clear_faults()
    manager.close(everything=True)
    start_for_the_shared_channel(manager)
    title = NL.text(f"manager.result.{then}")
    manager.wait_for_modal(lambda view: view.title == title, timeout=10)
    assert len(database_rows(fresh_bot.container.engine)["onboarding"]) == 1


def test_an_invite_whose_post_timed_out_is_recorded_not_posted_again(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser
) -> None:
    """The invite's post gets no answer in time, but Slack posts it after all; posting it again
    (the manager's "post again" on the running onboarding) finds it and records it instead."""
    slack.slow("chat.postMessage", TOO_SLOW)
    start_for_the_shared_channel(manager)
    manager.wait_for_modal(lambda view: view.title == NL.text("manager.result.title_failed"))
    [late] = slack.wait_for(lambda: invites_in(slack), timeout=10)
    manager.close(everything=True)

    start_for_the_shared_channel(manager)
    running = manager.wait_for_modal(
        lambda view: view.title == NL.text("manager.result.title_running"), timeout=10
    )
    manager.click(running, ACTION_RESEND_RUNNING)
    manager.wait_for_modal(
        lambda view: view.title == NL.text("manager.result.title_resent"), timeout=10
    )

    assert invites_in(slack) == [late]
    [onboarding] = database_rows(fresh_bot.container.engine)["onboarding"]
    assert late.ts in onboarding


def invites_in(slack: DevSlack) -> list:
    return [m for m in slack.messages(CHANNEL) if "start_onboarding" in json.dumps(m.blocks)]


def test_the_app_home_when_publishing_times_out(
    fresh_bot: ServedBot, slack: DevSlack, manager: SlackUser
) -> None:
    slack.slow("views.publish", TOO_SLOW)
    manager.open_home()
    manager.wait_for_home(timeout=10)  # Slack did publish it, late
    slack.clear_faults()
    manager.open_home()
    slack.wait_for(lambda: len(slack.calls("views.publish")) == 2)
