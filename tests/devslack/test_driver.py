"""People act through the fake: signed requests reach a real bolt app; its answers reach them."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from devslack import AckTimeout, ClientRefused, DevSlack, serve_asgi
from devslack.workspace import CUSTOMER, MANAGER, SHARED_CHANNEL

from .conftest import invite_blocks


@pytest.fixture
def invite(slack: DevSlack, bolt_bot: str):
    """The invite message with its Start button, as the bot would post it."""
    web = WebClient(token=slack.bot_token, base_url=slack.api_url)
    web.chat_postMessage(channel=SHARED_CHANNEL, text="Welkom", blocks=invite_blocks("Welkom"))
    return slack.user(CUSTOMER).last_message(SHARED_CHANNEL)


@pytest.fixture
def customer(slack: DevSlack, invite):
    person = slack.user(CUSTOMER)
    person.click(invite, "start")
    person.wait_for_modal()
    return person


def test_a_click_reaches_bolt_which_updates_the_message(slack, invite, seen):
    customer = slack.user(CUSTOMER)
    customer.click(invite, "start")
    message = customer.wait_for_message(SHARED_CHANNEL, lambda m: m.text == "Gestart")
    assert f"<@{CUSTOMER}>" in message.blocks[0]["text"]["text"]
    assert seen[0]["container"] == {
        "type": "message",
        "message_ts": invite.ts,
        "channel_id": SHARED_CHANNEL,
        "is_ephemeral": False,
    }


def test_a_click_carries_the_external_users_own_team(invite, slack, seen):
    slack.user(CUSTOMER).click(invite, "start")
    assert seen[0]["user"]["team_id"] == "T0CUSTOMER"
    assert seen[0]["actions"][0]["value"] == "onboarding-7"


def test_requests_are_signed_so_slack_sdk_verifies_them(slack, invite):
    slack.user(CUSTOMER).click(invite, "start")
    delivery = slack.deliveries[-1]
    verifier = SignatureVerifier(slack.signing_secret)
    timestamp = str(int(__import__("time").time()))
    signature = verifier.generate_signature(timestamp=timestamp, body=delivery.body)
    assert verifier.is_valid(delivery.body, timestamp, signature)
    assert delivery.status == 200


def test_the_trigger_of_a_click_opens_the_modal(customer):
    assert customer.modal.callback_id == "start"
    assert customer.modal.private_metadata == "onboarding-7"


def test_a_slash_command_opens_a_modal_with_its_trigger(slack, bolt_bot, seen):
    manager = slack.user(MANAGER)
    manager.command("/onboard", channel=SHARED_CHANNEL)
    assert manager.wait_for_modal().title == "Aan de slag"
    assert seen[0]["team_id"] == "T0OURS"
    assert seen[0]["channel_id"] == SHARED_CHANNEL


def test_a_slash_command_answer_is_shown_only_to_its_user(slack, bolt_bot):
    manager = slack.user(MANAGER)
    manager.command("/onboard", "status", channel=SHARED_CHANNEL)
    assert [m.text for m in manager.messages(SHARED_CHANNEL)] == ["Geen open onboardings"]
    assert slack.messages(SHARED_CHANNEL) == []


def test_a_reply_through_the_response_url_can_go_to_the_whole_channel(slack, bolt_bot):
    slack.user(MANAGER).command("/onboard", "announce", channel=SHARED_CHANNEL)
    customer = slack.user(CUSTOMER)
    assert customer.wait_for_message(SHARED_CHANNEL, lambda m: "aangekondigd" in m.text)


def test_a_submission_carries_the_filled_values_and_closes_the_modal(customer, seen):
    customer.fill(customer.modal, {"name": "Jan", "terms": ["accepted"]})
    customer.submit()
    values = seen[-1]["view"]["state"]["values"]
    assert values["name"]["value"] == {"type": "plain_text_input", "value": "Jan"}
    assert values["terms"]["value"]["selected_options"][0]["value"] == "accepted"
    assert seen[-1]["view"]["app_installed_team_id"] == "T0OURS"
    assert customer.modal is None


def test_errors_in_the_answer_show_under_their_input(customer):
    customer.fill(customer.modal, {"name": "Jan"})
    customer.submit()
    assert customer.modal.errors == {"terms": "Vink de voorwaarden aan"}


def test_an_empty_required_input_is_refused_by_the_client_itself(customer, slack):
    sent_before = len(slack.deliveries)
    assert customer.submit() is None
    assert "name" in customer.modal.errors
    assert len(slack.deliveries) == sent_before


@pytest.mark.parametrize(
    ("answer", "stack_titles"),
    [("update", ["Update"]), ("push", ["Aan de slag", "Push"]), ("clear", [])],
)
def test_response_actions_change_the_stack_as_slack_does(customer, answer, stack_titles):
    customer.fill(customer.modal, {"name": answer, "terms": ["accepted"]})
    customer.submit()
    assert [view.title for view in customer.modal_stack] == stack_titles


def test_errors_for_blocks_that_are_no_inputs_are_a_bot_bug(customer):
    customer.fill(customer.modal, {"name": "bad", "terms": ["accepted"]})
    with pytest.raises(ClientRefused, match="no inputs"):
        customer.submit()


def test_closing_a_modal_that_asks_for_it_sends_view_closed(customer, seen):
    customer.close()
    assert seen[-1]["type"] == "view_closed"
    assert seen[-1]["is_cleared"] is False
    assert customer.modal is None


def test_a_button_in_a_modal_lets_the_bot_update_it_by_hash(customer, seen):
    customer.click(customer.modal, "check_again")
    assert customer.wait_for_modal(lambda v: v.title == "Gecontroleerd")
    assert seen[-1]["container"]["type"] == "view"


def test_type_ahead_asks_the_bot_and_the_choice_can_be_submitted(customer, seen):
    assert customer.suggest(customer.modal, "company", "z") == []
    options = customer.suggest(customer.modal, "company", "zu")
    assert [o["value"] for o in options] == ["Bakkerij Zuid"]
    customer.fill(
        customer.modal, {"name": "Jan", "terms": ["accepted"], "company": "Bakkerij Zuid"}
    )
    customer.submit()
    chosen = seen[-1]["view"]["state"]["values"]["company"]["value"]["selected_option"]
    assert chosen["value"] == "Bakkerij Zuid"


def test_an_unknown_option_is_refused_with_the_offered_ones(customer):
    with pytest.raises(ClientRefused, match="accepted"):
        customer.fill(customer.modal, {"terms": ["declined"]})


def test_a_replay_carries_the_retry_number(slack, invite, seen):
    delivery = slack.user(CUSTOMER).click(invite, "start")
    replayed = slack.replay(delivery, retry_num=1)
    assert (replayed.retry_num, replayed.status) == (1, 200)
    assert slack.wait_for(lambda: {"error": "exchanged_trigger_id"} in seen)


def test_opening_the_app_home_lets_the_bot_publish_it(slack, bolt_bot, seen):
    manager = slack.user(MANAGER)
    manager.open_home()
    assert manager.wait_for_home().blocks[0]["type"] == "divider"
    assert seen[-1]["type"] == "app_home_opened"


def test_a_bot_slower_than_three_seconds_is_an_ack_timeout(slack):
    async def slow_app(scope, receive, send):
        import asyncio

        if scope["type"] != "http":
            return
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve_asgi(slow_app) as url:
        slack.ack_timeout = 0.1
        slack.connect(f"{url}/slack/events")
        with pytest.raises(AckTimeout):
            slack.user(MANAGER).command("/onboard", channel=SHARED_CHANNEL)


def test_a_link_button_click_reaches_the_bot_and_the_modal_it_updates_by_external_id(
    slack, bolt_bot, seen
):
    customer = slack.user(CUSTOMER)
    customer.command("/onboard", "connect", channel=SHARED_CHANNEL)
    view = customer.wait_for_modal(lambda v: v.callback_id == "connect")
    link = view.blocks[0]["elements"][0]["url"]

    customer.click(view, "log_in")
    assert seen[-1]["type"] == "block_actions"
    assert seen[-1]["actions"][0]["action_id"] == "log_in"
    assert httpx.get(link).status_code == 200  # the browser follows the link, then approves
    assert httpx.post(link.replace("start?t=abc", "approve")).status_code == 200

    updated = customer.wait_for_modal(lambda v: v.callback_id == "verbonden")
    assert updated.id == view.id
