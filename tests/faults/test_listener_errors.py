"""A listener raises (a bug, or something nobody foresaw): the person is told in Slack, and the
HTTP answer is neither a 500 nor a silent or lost ack.

The failures are put in with monkeypatch at the functions the listeners call; bolt 1.30 drops
an ack whose listener raises right after it, which the first test catches.
"""

from __future__ import annotations

import json
import logging

import pytest

from bot.i18n import catalogue
from bot.transports.slack import modal_routines
from bot.transports.slack.listeners import actions, commands, home
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANY_SEARCH,
    ACTION_PACKAGE,
    ACTION_TERMS,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from devslack import DevSlack, SlackUser
from devslack.workspace import MANAGER
from payroll.nmbrs_soap.sandbox import MANY_COMPANIES_USERNAME, SandboxHandle
from tests.e2e.journey import (
    CHANNEL,
    ServedBot,
    enter_credentials,
    invite_message,
    settled,
    to_credentials,
)

FAILURE = catalogue("nl").text("manager.command.failed")  # in the default language
ERROR_TITLE = catalogue("nl").text("customer.modal.title_error")


class Bug(Exception):
    """What a listener raises here."""


@pytest.fixture(scope="module")
def module_database_url(sqlite_database_url: str) -> str:
    """What a failing listener answers does not depend on the database: SQLite only."""
    return sqlite_database_url


def broken(*args: object, **kwargs: object) -> None:
    raise Bug("something nobody foresaw")


def failures(person: SlackUser) -> int:
    """How many failure messages the person sees in the channel (it is shared by the module's
    tests, so each test counts the ones it adds)."""
    return sum(message.text == FAILURE for message in person.messages(CHANNEL))


def test_raising_right_after_the_ack_keeps_the_ack_and_tells_the_person(
    served: ServedBot,
    contact: SlackUser,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served.invite(language="en")
    before = failures(contact)
    monkeypatch.setattr(actions, "parse_start_value", broken)
    delivery = contact.click(invite_message(contact), "start_onboarding")  # AckTimeout if lost
    assert delivery.status == 200
    contact.slack.wait_for(lambda: failures(contact) > before)
    assert "Bug" in caplog.text


def test_raising_later_in_a_click_tells_the_person(
    served: ServedBot, contact: SlackUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invite is redrawn after the modal opens, whether the step's screen opened at once or
    after a working view."""
    served.invite(language="en")
    before = failures(contact)
    monkeypatch.setattr(modal_routines, "refresh_invite", broken)
    delivery = contact.click(invite_message(contact), "start_onboarding")
    assert delivery.status == 200
    contact.slack.wait_for(lambda: failures(contact) > before)


def test_raising_before_a_submission_is_answered_shows_an_error_screen(
    served: ServedBot, contact: SlackUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    onboarding_id = served.invite(language="en")
    contact.click(invite_message(contact), "start_onboarding")
    terms = settled(contact, CALLBACK_TERMS)
    contact.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    monkeypatch.setattr(modal_routines, "read_form", broken)
    delivery = contact.submit(terms)
    assert delivery.status == 200
    assert delivery.response["response_action"] == "update"
    assert contact.modal.title == ERROR_TITLE
    assert served.onboarding(onboarding_id).state == "invited"


def test_raising_in_the_type_ahead_offers_nothing_rather_than_failing(
    served: ServedBot, contact: SlackUser, nmbrs: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.invite(language="en")
    to_credentials(contact)
    companies = enter_credentials(
        contact, MANY_COMPANIES_USERNAME, nmbrs.accounts[MANY_COMPANIES_USERNAME].token
    )
    monkeypatch.setattr(modal_routines, "company_options", broken)
    assert contact.suggest(companies, ACTION_COMPANY_SEARCH, "bakkerij") == []


def test_raising_before_a_command_is_answered_tells_the_manager(
    served: ServedBot, module_slack: DevSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = module_slack.user(MANAGER)
    monkeypatch.setattr(commands, "help_text", broken)
    delivery = manager.command("/onboard", "help", channel=CHANNEL)
    assert delivery.status == 200
    assert json.loads(delivery.response_text)["text"] == FAILURE
    assert any(message.text == FAILURE for message in manager.messages(CHANNEL))


def test_raising_in_an_event_listener_is_logged_and_acked(
    served: ServedBot,
    module_slack: DevSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event has nobody to tell: Slack gets its ack (or it retries), the log gets the bug."""
    caplog.set_level(logging.ERROR)
    monkeypatch.setattr(home, "home_view", broken)
    delivery = module_slack.user(MANAGER).open_home()
    assert delivery.status == 200
    module_slack.wait_for(lambda: "Bug" in caplog.text)
