"""Who may do what: only account managers reach the manager's tools; a customer reaches only
the onboarding of their own channel; an edited private_metadata is refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.transports.slack.invites import post_invite
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
)
from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    ACTION_COMPANY_SEARCH,
    CALLBACK_COMPANIES,
)
from devslack import DevSlack
from devslack.workspace import BOT_USER, MANAGER, OUR_TEAM, STRANGER, Channel, Team, User
from devslack.world import View
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    SandboxAccount,
    SandboxHandle,
    many_companies,
)
from storage.models import Client, LinkedCompany, Onboarding, PayrollLink, TermsAcceptance
from tests.e2e.journey import (
    CHANNEL,
    CUSTOMER,
    ServedBot,
    accept_terms,
    enter_credentials,
    prepare,
    settled,
    to_credentials,
)
from tests.served import database_rows

COLLEAGUE = "U0COLLEAGUE"  # our workspace, not in the account managers' group
OTHER_CONTACT = "U0OTHER"  # the contact of another client, in another workspace
OTHER_CHANNEL = "C0OTHER"
OTHER_USERNAME = "tuin@voorbeeld.nl"
OTHER_TOKEN = "7a6b5c4d3e2f10987a6b5c4d3e2f1098"
NON_MANAGERS = [CUSTOMER, STRANGER, COLLEAGUE, OTHER_CONTACT]
GUARDED_TABLES = [Client, Onboarding, PayrollLink, LinkedCompany, TermsAcceptance]


@pytest.fixture(scope="module")
def setting_overrides() -> dict[str, Any]:
    return {"account_manager_group": "S0MANAGERS"}


@dataclass
class World:
    """Our client's completed onboarding and link, another client's running onboarding, and
    the account manager's App Home and result modal with their buttons."""

    link_id: int
    completed_id: int
    other_id: int
    other_companies: View
    home: View
    result: View
    start_form: View


@pytest.fixture(scope="module")
def world(served: ServedBot, module_slack: DevSlack, sandbox: SandboxHandle) -> World:
    slack = module_slack
    slack.workspace.add_user(User(COLLEAGUE, OUR_TEAM, "kees", "Kees Collega"))
    slack.workspace.teams["T0OTHER"] = Team("T0OTHER", "Tuincentrum", "tuincentrum")
    slack.workspace.add_user(User(OTHER_CONTACT, "T0OTHER", "tom", "Tom Tuin"))
    slack.workspace.add_channel(
        Channel(
            OTHER_CHANNEL,
            "tuincentrum-payroll",
            [MANAGER, OTHER_CONTACT, BOT_USER],
            shared_team_ids=[OUR_TEAM, "T0OTHER"],
        )
    )
    sandbox.accounts.add(
        SandboxAccount(OTHER_USERNAME, OTHER_TOKEN, "tuin", many_companies(150, first_id=900001))
    )

    completed_id = served.invite(language="en")
    customer = slack.user(CUSTOMER)
    to_credentials(customer)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: ["48201"]})
    customer.submit(companies)
    customer.submit(settled(customer))  # the over-access confirmation
    settled(customer)
    with served.container.unit_of_work() as uow:
        link_id = uow.links.for_onboarding(completed_id).id

    other_id = invite_elsewhere(served, OTHER_CHANNEL, OTHER_CONTACT)
    other = slack.user(OTHER_CONTACT)
    invite = other.wait_for_message(OTHER_CHANNEL, lambda message: message.user == BOT_USER)
    other.click(invite, ACTION_START)
    accept_terms(other)
    prepare(other)
    other_companies = enter_credentials(other, OTHER_USERNAME, OTHER_TOKEN)
    assert other_companies.callback_id == CALLBACK_COMPANIES

    manager = slack.user(MANAGER)
    manager.open_home()
    home = manager.wait_for_home(lambda view: ACTION_CANCEL in json.dumps(view.blocks))
    manager.command("/onboard", channel=OTHER_CHANNEL)
    start_form = manager.wait_for_modal(lambda view: view.callback_id == CALLBACK_START)
    manager.fill(
        start_form,
        {
            "client_name.value": "Tuincentrum",
            "channel.value": OTHER_CHANNEL,
            "language.value": "en",
        },
    )
    form_copy = manager.modal
    manager.submit(start_form)
    result = manager.wait_for_modal(
        lambda view: (
            view.callback_id == CALLBACK_RESULT and ACTION_REPLACE in json.dumps(view.blocks)
        )
    )
    return World(
        link_id=link_id,
        completed_id=completed_id,
        other_id=other_id,
        other_companies=other_companies,
        home=home,
        result=result,
        start_form=form_copy,
    )


def invite_elsewhere(served: ServedBot, channel_id: str, contact: str) -> int:
    """What /onboard does, for another client in another channel."""
    status = served.service.create_invite(
        client_name="Tuincentrum Het Groene Hart",
        channel_id=channel_id,
        team_id=served.slack.workspace.users[contact].team_id,
        started_by=MANAGER,
        language="en",
        contact_user_id=contact,
    )
    client = AsyncWebClient(token=served.slack.bot_token, base_url=served.slack.api_url)
    return asyncio.run(post_invite(client, served.service, status)).onboarding_id


def guarded_rows(bot: ServedBot) -> dict[str, list[tuple]]:
    assert bot.container is not None
    names = {model.__tablename__ for model in GUARDED_TABLES}
    return {k: v for k, v in database_rows(bot.container.engine).items() if k in names}


def interaction(slack: DevSlack, user_id: str, kind: str) -> dict[str, Any]:
    """The part of an interactivity payload that says who acts, as Slack fills it in."""
    person = slack.workspace.users[user_id]
    team = slack.workspace.teams[person.team_id]
    return {
        "type": kind,
        "team": {"id": team.id, "domain": team.domain},
        "user": {
            "id": user_id,
            "username": person.name,
            "name": person.name,
            "team_id": person.team_id,
        },
        "api_app_id": slack.workspace.app_id,
        "token": slack.verification_token,
        "is_enterprise_install": False,
    }


def click_in(
    slack: DevSlack, user_id: str, view: View, action_id: str, value: str, **view_changes: Any
):
    """A button in `view` clicked by `user_id` (a view someone else was shown)."""
    payload = {
        **interaction(slack, user_id, "block_actions"),
        "trigger_id": slack.world.issue_trigger(user_id),
        "container": {"type": "view", "view_id": view.id},
        "view": {**view.as_slack(), **view_changes},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "forged",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return slack.endpoint.send_payload(payload)


def suggest_as(
    slack: DevSlack, user_id: str, view: View, query: str, **view_changes: Any
) -> list[dict]:
    """What the type-ahead offers `user_id` typing `query` in `view`'s company search."""
    payload = {
        **interaction(slack, user_id, "block_suggestion"),
        "container": {"type": "view", "view_id": view.id},
        "view": {**view.as_slack(), **view_changes},
        "action_id": ACTION_COMPANY_SEARCH,
        "block_id": "companies",
        "value": query,
        "action_ts": f"{time.time():.6f}",
    }
    answer = slack.endpoint.send_payload(payload).response or {}
    return answer.get("options", [])


def submit_as(slack: DevSlack, user_id: str, view: View, **view_changes: Any):
    body = {**view.as_slack(), **view_changes}
    payload = {
        **interaction(slack, user_id, "view_submission"),
        "trigger_id": slack.world.issue_trigger(user_id),
        "view": body,
        "response_urls": [],
    }
    return slack.endpoint.send_payload(payload)


def quiet(slack: DevSlack) -> int:
    """The number of Web API calls once the work after the last ack has ended."""
    count = -1
    while count != len(slack.calls()):
        count = len(slack.calls())
        time.sleep(0.2)
    return count


def calls_since(slack: DevSlack, count: int) -> list:
    return slack.calls()[count:]


@pytest.fixture
def before(served: ServedBot, module_slack: DevSlack, world: World) -> Iterator[tuple]:
    yield guarded_rows(served), quiet(module_slack)


def test_non_managers_get_no_start_modal_and_no_status_list(
    served: ServedBot, module_slack: DevSlack, world: World, before
) -> None:
    rows, count = before
    for user_id in NON_MANAGERS:
        person = module_slack.user(user_id)
        channel = OTHER_CHANNEL if user_id == OTHER_CONTACT else CHANNEL
        seen = len(person.messages(channel))
        person.command("/onboard", channel=channel)
        person.command("/onboard", "status", channel=channel)
        # A refusal for each, sent after the ack.
        module_slack.wait_for(lambda p=person, c=channel, n=seen + 2: len(p.messages(c)) == n)
        answers = person.messages(channel)[seen:]
        shown = json.dumps([message.as_slack() for message in answers])
        assert "Tuincentrum" not in shown and "Bakkerij" not in shown
    quiet(module_slack)
    assert not [call for call in calls_since(module_slack, count) if call.method == "views.open"]
    assert guarded_rows(served) == rows


def test_non_managers_see_no_dashboard_in_the_app_home(
    served: ServedBot, module_slack: DevSlack, world: World, before
) -> None:
    _, count = before
    for user_id in NON_MANAGERS:
        module_slack.user(user_id).open_home()
    quiet(module_slack)
    published = [c for c in calls_since(module_slack, count) if c.method == "views.publish"]
    assert sorted(call.args["user_id"] for call in published) == sorted(NON_MANAGERS)
    shown = json.dumps([call.args for call in published])
    assert "Tuincentrum" not in shown and "Bakkerij" not in shown
    assert ACTION_CANCEL not in shown


def test_the_app_home_buttons_do_nothing_for_non_managers(
    served: ServedBot, module_slack: DevSlack, world: World, before
) -> None:
    rows, count = before
    for user_id in NON_MANAGERS:
        for action_id in (ACTION_RESEND, ACTION_CANCEL, ACTION_LIFT_BLOCK, ACTION_UNLINK):
            value = world.link_id if action_id == ACTION_UNLINK else world.other_id
            click_in(module_slack, user_id, world.home, action_id, str(value))
    quiet(module_slack)
    assert guarded_rows(served) == rows
    made = calls_since(module_slack, count)
    assert not [call for call in made if call.method in ("chat.postMessage", "chat.update")]
    assert {call.args["user_id"] for call in made if call.method == "views.publish"} <= set(
        NON_MANAGERS
    )
    with served.container.unit_of_work() as uow:
        assert uow.links.token(uow.links.require(world.link_id)) == DEMO_TOKEN


def test_the_start_modal_submitted_by_non_managers_creates_nothing(
    served: ServedBot, module_slack: DevSlack, world: World, before
) -> None:
    rows, count = before
    for user_id in NON_MANAGERS:
        submit_as(module_slack, user_id, world.start_form)
    quiet(module_slack)
    assert guarded_rows(served) == rows
    made = calls_since(module_slack, count)
    assert not [call for call in made if call.method == "chat.postMessage"]


def test_the_result_modal_buttons_do_nothing_for_non_managers(
    served: ServedBot, module_slack: DevSlack, world: World, before
) -> None:
    rows, count = before
    for user_id in NON_MANAGERS:
        for action_id in (ACTION_RETRY, ACTION_REPLACE, ACTION_RESEND_RUNNING):
            click_in(module_slack, user_id, world.result, action_id, str(world.other_id))
    quiet(module_slack)
    assert guarded_rows(served) == rows
    made = calls_since(module_slack, count)
    assert not [call for call in made if call.method == "chat.postMessage"]


# --- another client's onboarding -------------------------------------------------------------


def test_a_customer_cannot_act_on_another_clients_onboarding_with_its_signed_metadata(
    served: ServedBot, module_slack: DevSlack, world: World, before, sandbox: SandboxHandle
) -> None:
    """The other client's modal, as if it reached our customer: its metadata is validly signed,
    but our customer is not in that client's channel."""
    rows, _ = before
    view = world.other_companies
    checks = len(sandbox.calls)
    submit_as(module_slack, CUSTOMER, view)
    click_in(module_slack, CUSTOMER, view, ACTION_CHECK_AGAIN, "")
    assert suggest_as(module_slack, OTHER_CONTACT, view, "bakkerij")  # the control: they may
    assert suggest_as(module_slack, CUSTOMER, view, "bakkerij") == []
    quiet(module_slack)
    assert guarded_rows(served) == rows
    assert len(sandbox.calls) == checks


def test_an_edited_onboarding_id_in_private_metadata_is_refused(
    served: ServedBot, module_slack: DevSlack, world: World, before, sandbox: SandboxHandle
) -> None:
    """Our customer's own (signed) metadata with the other onboarding's id put in."""
    rows, _ = before
    checks = len(sandbox.calls)
    own = world.other_companies.private_metadata
    onboarding_id, rest = own.split(".", 1)
    assert int(onboarding_id) == world.other_id
    edited = f"{world.completed_id}.{rest}"
    answer = submit_as(module_slack, OTHER_CONTACT, world.other_companies, private_metadata=edited)
    assert answer.response["response_action"] == "update"
    assert "hoort bij een ander kanaal" in json.dumps(answer.response["view"])
    view = world.other_companies
    click_in(module_slack, OTHER_CONTACT, view, ACTION_CHECK_AGAIN, "", private_metadata=edited)
    assert suggest_as(module_slack, OTHER_CONTACT, view, "bakkerij", private_metadata=edited) == []
    quiet(module_slack)
    assert guarded_rows(served) == rows
    assert len(sandbox.calls) == checks
