"""Slack delivers a request again (X-Slack-Retry-Num) or a person double-clicks: every step has
its effect once."""

from __future__ import annotations

import json
import threading
import time

from bot.transports.slack.views.home import ACTION_CANCEL
from bot.transports.slack.views.manager import CALLBACK_RESULT, CALLBACK_START
from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    ACTION_PACKAGE,
    ACTION_TERMS,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_OVER_ACCESS,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from devslack import Delivery, DevSlack, SlackUser
from devslack.workspace import BOT_USER, MANAGER, OUR_TEAM, Channel
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxHandle,
)
from tests.e2e.journey import (
    CUSTOMER,
    ServedBot,
    invite_message,
    settled,
    submission_payload,
    to_credentials,
)
from tests.served import database_rows


def rows(bot: ServedBot) -> dict[str, list[tuple]]:
    return database_rows(bot.container.engine)


def quiet(slack: DevSlack, pause: float = 0.15) -> None:
    """Wait until the bot's work after its acks has ended (no new Web API call for a moment)."""
    count = -1
    while count != len(slack.calls()):
        count = len(slack.calls())
        time.sleep(pause)


def replayed_changes_nothing(
    bot: ServedBot, slack: DevSlack, nmbrs: SandboxHandle, delivery: Delivery
) -> None:
    """Slack's first and second retry of `delivery` leave rows, Nmbrs and posts as they were."""
    quiet(slack)
    before = rows(bot), len(nmbrs.calls), len(slack.calls("chat.postMessage"))
    for retry_num in (1, 2):
        again = slack.replay(delivery, retry_num=retry_num)
        assert again.status == 200
        if delivery.kind == "view_submission" and again.response:  # as Slack shows the answer
            user_id, view_id = delivery.payload["user"]["id"], delivery.payload["view"]["id"]
            slack.world.apply_submission(user_id, view_id, again.response)
            settled(slack.user(user_id))
    quiet(slack)
    assert (rows(bot), len(nmbrs.calls), len(slack.calls("chat.postMessage"))) == before


def test_each_customer_step_retried_by_slack_has_no_second_effect(
    served: ServedBot, module_slack: DevSlack, contact: SlackUser, nmbrs: SandboxHandle
) -> None:
    slack, person = module_slack, contact
    served.invite(language="en")

    start = person.click(invite_message(person), "start_onboarding")
    terms = settled(person, CALLBACK_TERMS)
    replayed_changes_nothing(served, slack, nmbrs, start)

    person.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    accepted = person.submit(terms)
    preparation = settled(person, CALLBACK_PREPARATION)
    replayed_changes_nothing(served, slack, nmbrs, accepted)

    prepared = person.submit(preparation)
    credentials = settled(person, CALLBACK_CREDENTIALS)
    replayed_changes_nothing(served, slack, nmbrs, prepared)

    account = nmbrs.accounts[PERMISSIONS_OFF_USERNAME]
    person.fill(credentials, {ACTION_USERNAME: account.username, ACTION_TOKEN: account.token})
    checked = person.submit(credentials)
    permissions = settled(person)
    assert permissions.title == "Permissions missing"
    replayed_changes_nothing(served, slack, nmbrs, checked)

    account.switch_on(*account.permissions_off)
    again = person.click(permissions, ACTION_CHECK_AGAIN)
    companies = settled(person, CALLBACK_COMPANIES)
    replayed_changes_nothing(served, slack, nmbrs, again)

    person.fill(companies, {ACTION_COMPANIES: ["48201"]})
    chosen = person.submit(companies)
    over_access = settled(person, CALLBACK_OVER_ACCESS)
    replayed_changes_nothing(served, slack, nmbrs, chosen)

    confirmed = person.submit(over_access)
    assert settled(person).title == "Connected"
    replayed_changes_nothing(served, slack, nmbrs, confirmed)


def test_the_managers_start_and_cancel_retried_by_slack_have_no_second_effect(
    served: ServedBot, module_slack: DevSlack, nmbrs: SandboxHandle
) -> None:
    manager = module_slack.user(MANAGER)
    channel = new_shared_channel(module_slack, "C0REPLAY")
    form = open_start_form(manager, channel)
    submitted = manager.submit(form)
    manager.wait_for_modal(
        lambda view: view.callback_id == CALLBACK_RESULT and "Tuin" in view.text()
    )
    replayed_changes_nothing(served, module_slack, nmbrs, submitted)

    with served.container.unit_of_work() as uow:
        onboarding_id = uow.onboardings.open_for_channel(channel).id
    manager.open_home()
    button = f"onboarding_{onboarding_id}.{ACTION_CANCEL}"
    home = manager.wait_for_home(lambda view: button.split(".")[0] in json.dumps(view.blocks))
    cancel = manager.click(home, button)
    module_slack.wait_for(lambda: served.onboarding(onboarding_id).state == "cancelled")
    replayed_changes_nothing(served, module_slack, nmbrs, cancel)


# --- two submissions of the same view at the same moment -----------------------------------


def at_once(slack: DevSlack, payload: dict, times: int = 2) -> list[Delivery]:
    """Send the same payload `times` times at the same moment (a double click)."""
    barrier = threading.Barrier(times)
    answers: list[Delivery] = []

    def send() -> None:
        barrier.wait()
        answers.append(slack.endpoint.send_payload(payload))

    threads = [threading.Thread(target=send) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return answers


def test_the_credentials_submitted_twice_at_once_are_checked_into_one_result(
    served: ServedBot, module_slack: DevSlack, contact: SlackUser
) -> None:
    onboarding_id = served.invite(language="en")
    to_credentials(contact)
    view = settled(contact, CALLBACK_CREDENTIALS)
    contact.fill(view, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    payload = submission_payload(module_slack, CUSTOMER, contact.modal)
    answers = at_once(module_slack, payload)
    assert [answer.status for answer in answers] == [200, 200]
    module_slack.world.apply_submission(CUSTOMER, view.id, answers[0].response or {})
    assert settled(contact, CALLBACK_COMPANIES).callback_id == CALLBACK_COMPANIES

    audit = audit_of(served, onboarding_id)
    assert [a.kind for a in audit].count("credentials_verified") == 1
    changes = [a.detail["to"] for a in audit if a.kind == "state_changed"]
    assert changes == ["terms_accepted", "credentials_verified"]


def test_the_terms_submitted_twice_at_once_are_accepted_once(
    served: ServedBot, module_slack: DevSlack, contact: SlackUser
) -> None:
    onboarding_id = served.invite(language="en")
    contact.click(invite_message(contact), "start_onboarding")
    view = settled(contact, CALLBACK_TERMS)
    contact.fill(view, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    updates_before = len(module_slack.calls("views.update"))
    at_once(module_slack, submission_payload(module_slack, CUSTOMER, contact.modal))

    # Both ack first; each shows its answer once its use case is done (and another update of
    # the modal may come first under load: wait for the acceptance too).
    def acceptances() -> int:
        with served.container.unit_of_work() as uow:
            return len(uow.terms.for_onboarding(onboarding_id))

    module_slack.world.wait_until(
        lambda: len(module_slack.calls("views.update")) >= updates_before + 2 and acceptances() >= 1
    )
    assert acceptances() == 1
    assert [a.kind for a in audit_of(served, onboarding_id)].count("terms_accepted") == 1


def test_the_start_modal_submitted_twice_at_once_starts_one_onboarding(
    served: ServedBot, module_slack: DevSlack
) -> None:
    manager = module_slack.user(MANAGER)
    channel = new_shared_channel(module_slack, "C0RACE")
    form = open_start_form(manager, channel)
    for answer in at_once(module_slack, submission_payload(module_slack, MANAGER, form)):
        module_slack.world.apply_submission(MANAGER, form.id, answer.response or {})
    module_slack.wait_for(lambda: _invites(module_slack, channel), timeout=5)
    quiet(module_slack)
    with served.container.unit_of_work() as uow:
        assert len([c for c in uow.clients.for_channel(channel)]) == 1
    assert len(_invites(module_slack, channel)) == 1


# --- helpers --------------------------------------------------------------------------------


def audit_of(bot: ServedBot, onboarding_id: int) -> list:
    """The audit trail (what was committed, unlike events published in a transaction that lost
    the race and was rolled back)."""
    with bot.container.unit_of_work() as uow:
        return list(uow.audit.for_onboarding(onboarding_id))


def new_shared_channel(slack: DevSlack, channel_id: str) -> str:
    slack.workspace.add_channel(
        Channel(
            channel_id,
            channel_id.lower(),
            [MANAGER, CUSTOMER, BOT_USER],
            shared_team_ids=[OUR_TEAM, "T0CUSTOMER"],
        )
    )
    return channel_id


def open_start_form(manager: SlackUser, channel: str):  # type: ignore[no-untyped-def]
    manager.command("/onboard", channel=channel)
    form = manager.wait_for_modal(lambda view: view.callback_id == CALLBACK_START)
    manager.fill(
        form,
        {"client_name.value": "Tuincentrum", "channel.value": channel, "language.value": "en"},
    )
    return manager.modal


def _invites(slack: DevSlack, channel: str) -> list:
    return [m for m in slack.messages(channel) if "start_onboarding" in json.dumps(m.blocks)]
