"""The fake's Web API answers as Slack does, enforces Slack's limits and records every call."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from devslack import DevSlack
from devslack.workspace import (
    CUSTOMER,
    CUSTOMER_TEAM,
    MANAGER,
    OUR_TEAM,
    SHARED_CHANNEL,
    STATUS_CHANNEL,
    STRANGER,
)


def modal(**overrides) -> dict:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Onboarding"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hallo"}}],
    }
    view.update(overrides)
    return view


def options(count: int) -> list[dict]:
    return [
        {"text": {"type": "plain_text", "text": f"Optie {n}"}, "value": f"v{n}"}
        for n in range(count)
    ]


def button(text: str) -> dict:
    return {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": text}}


def input_block(element: dict, block_id: str = "field") -> dict:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": "Veld"},
        "element": element,
    }


def form(element: dict) -> dict:
    """A modal with one input holding `element`."""
    return modal(submit={"type": "plain_text", "text": "OK"}, blocks=[input_block(element)])


def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def open_modal(slack: DevSlack, web: WebClient, view: dict, user: str = CUSTOMER):
    return web.views_open(trigger_id=slack.world.issue_trigger(user), view=view)


def test_auth_test_names_the_bot_and_its_team(web):
    answer = web.auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == ("U0BOT", "B0BOT", OUR_TEAM)


def test_a_wrong_token_is_invalid_auth(slack):
    error = error_of(WebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test)
    assert error.response["error"] == "invalid_auth"


def test_post_update_and_delete_a_message(slack, web):
    posted = web.chat_postMessage(channel=SHARED_CHANNEL, text="Welkom")
    web.chat_update(channel=SHARED_CHANNEL, ts=posted["ts"], text="Welkom terug")
    assert [m.text for m in slack.messages(SHARED_CHANNEL)] == ["Welkom terug"]
    web.chat_delete(channel=SHARED_CHANNEL, ts=posted["ts"])
    assert slack.messages(SHARED_CHANNEL) == []


def test_update_keeps_blocks_when_none_are_given(slack, web):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Stap 1"}}]
    posted = web.chat_postMessage(channel=SHARED_CHANNEL, text="x", blocks=blocks)
    web.chat_update(channel=SHARED_CHANNEL, ts=posted["ts"], text="y")
    assert slack.messages(SHARED_CHANNEL)[0].blocks[0]["text"]["text"] == "Stap 1"


def test_updating_an_unknown_message_is_message_not_found(web):
    error = error_of(lambda: web.chat_update(channel=SHARED_CHANNEL, ts="1.000001", text="x"))
    assert error.response["error"] == "message_not_found"


def test_history_lists_messages_newest_first_with_metadata_when_asked(web):
    mark = {"event_type": "onboarding_invite", "event_payload": {"onboarding_id": 7}}
    first = web.chat_postMessage(channel=SHARED_CHANNEL, text="een", metadata=mark)["ts"]
    second = web.chat_postMessage(channel=SHARED_CHANNEL, text="twee")["ts"]

    listed = web.conversations_history(channel=SHARED_CHANNEL, include_all_metadata=True)
    plain = web.conversations_history(channel=SHARED_CHANNEL)
    after = web.conversations_history(channel=SHARED_CHANNEL, oldest=first)

    assert [(m["ts"], m.get("metadata")) for m in listed["messages"]] == [
        (second, None),
        (first, mark),
    ]
    assert all("metadata" not in m for m in plain["messages"])
    assert [m["ts"] for m in after["messages"]] == [second]


def test_an_unknown_channel_is_channel_not_found(web):
    error = error_of(lambda: web.chat_postMessage(channel="C0NOPE", text="x"))
    assert error.response["error"] == "channel_not_found"


def test_more_than_50_blocks_in_a_message_are_invalid_blocks(web):
    blocks = [{"type": "divider"}] * 51
    error = error_of(lambda: web.chat_postMessage(channel=SHARED_CHANNEL, text="x", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    assert "no more than 50 items allowed" in error.response["response_metadata"]["messages"][0]


def test_an_ephemeral_message_is_seen_only_by_its_user(slack, web):
    web.chat_postEphemeral(channel=SHARED_CHANNEL, user=CUSTOMER, text="Alleen voor jou")
    assert [m.text for m in slack.user(CUSTOMER).messages(SHARED_CHANNEL)] == ["Alleen voor jou"]
    assert slack.user(MANAGER).messages(SHARED_CHANNEL) == []


def test_an_ephemeral_message_to_a_non_member_is_refused(web):
    error = error_of(
        lambda: web.chat_postEphemeral(channel=SHARED_CHANNEL, user=STRANGER, text="x")
    )
    assert error.response["error"] == "user_not_in_channel"


@pytest.mark.parametrize(
    ("view", "pointer", "message"),
    [
        (
            modal(title={"type": "plain_text", "text": "A" * 25}),
            "/view/title/text",
            "must be less than 25 characters",
        ),
        (modal(blocks=[{"type": "divider"}] * 101), "/view/blocks", "no more than 100 items"),
        (
            form({"type": "checkboxes", "action_id": "a", "options": options(11)}),
            "/view/blocks/0/element/options",
            "no more than 10 items",
        ),
        (
            form({"type": "static_select", "action_id": "a", "options": options(101)}),
            "/view/blocks/0/element/options",
            "no more than 100 items",
        ),
        (modal(private_metadata="x" * 3001), "/view/private_metadata", "less than 3001"),
        (
            modal(blocks=[{"type": "actions", "elements": [button("B" * 76)]}]),
            "/view/blocks/0/elements/0/text/text",
            "must be less than 76 characters",
        ),
        (
            form({"type": "plain_text_input"}),
            "/view/blocks/0/element",
            "missing required field: action_id",
        ),
        (
            modal(blocks=[input_block({"type": "plain_text_input", "action_id": "a"})]),
            "/view",
            "must provide a submit property",
        ),
    ],
    ids=[
        "title over 24",
        "101 blocks",
        "11 checkboxes",
        "101 select options",
        "private_metadata over 3000",
        "button text over 75",
        "input without action_id",
        "inputs without submit",
    ],
)
def test_views_open_rejects_what_slack_rejects(slack, web, view, pointer, message):
    error = error_of(lambda: open_modal(slack, web, view))
    assert error.response["error"] == "invalid_arguments"
    problems = error.response["response_metadata"]["messages"]
    assert any(message in p and f"[json-pointer:{pointer}]" in p for p in problems), problems


def test_a_modal_at_the_limits_opens(slack, web):
    view = modal(
        title={"type": "plain_text", "text": "A" * 24},
        private_metadata="x" * 3000,
        blocks=[{"type": "divider"}] * 100,
    )
    assert open_modal(slack, web, view)["view"]["title"]["text"] == "A" * 24


def test_a_trigger_id_works_once(slack, web):
    trigger = slack.world.issue_trigger(CUSTOMER)
    web.views_open(trigger_id=trigger, view=modal())
    error = error_of(lambda: web.views_open(trigger_id=trigger, view=modal()))
    assert error.response["error"] == "exchanged_trigger_id"


def test_a_trigger_id_expires_after_three_seconds(slack, web):
    trigger = slack.world.issue_trigger(CUSTOMER)
    slack.advance(3.1)
    error = error_of(lambda: web.views_open(trigger_id=trigger, view=modal()))
    assert error.response["error"] == "expired_trigger_id"


def test_an_unknown_trigger_id_is_invalid(web):
    error = error_of(lambda: web.views_open(trigger_id="1.2.nope", view=modal()))
    assert error.response["error"] == "invalid_trigger_id"


def test_views_open_shows_the_modal_to_the_user_of_the_trigger(slack, web):
    opened = open_modal(slack, web, modal(callback_id="terms"))
    view = slack.user(CUSTOMER).modal
    assert (view.id, view.callback_id) == (opened["view"]["id"], "terms")
    assert slack.user(MANAGER).modal is None


def test_the_view_stack_holds_at_most_three_views(slack, web):
    open_modal(slack, web, modal())
    for _ in range(2):
        web.views_push(trigger_id=slack.world.issue_trigger(CUSTOMER), view=modal())
    error = error_of(
        lambda: web.views_push(trigger_id=slack.world.issue_trigger(CUSTOMER), view=modal())
    )
    assert error.response["error"] == "push_limit_reached"
    assert len(slack.user(CUSTOMER).modal_stack) == 3


def test_views_update_with_a_stale_hash_is_a_hash_conflict(slack, web):
    opened = open_modal(slack, web, modal())["view"]
    web.views_update(view_id=opened["id"], hash=opened["hash"], view=modal(callback_id="b"))
    error = error_of(
        lambda: web.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    )
    assert error.response["error"] == "hash_conflict"


def test_views_update_of_a_closed_view_is_not_found(slack, web):
    opened = open_modal(slack, web, modal())["view"]
    slack.user(CUSTOMER).close()
    error = error_of(lambda: web.views_update(view_id=opened["id"], view=modal()))
    assert error.response["error"] == "not_found"


def test_views_update_finds_a_view_by_external_id(slack, web):
    open_modal(slack, web, modal(external_id="onboarding-7"))
    web.views_update(external_id="onboarding-7", view=modal(callback_id="next"))
    assert slack.user(CUSTOMER).modal.callback_id == "next"


def test_views_update_keeps_what_the_person_entered_in_unchanged_inputs(slack, web):
    form = modal(
        submit={"type": "plain_text", "text": "OK"},
        blocks=[input_block({"type": "plain_text_input", "action_id": "a"}, "username")],
    )
    opened = open_modal(slack, web, form)["view"]
    customer = slack.user(CUSTOMER)
    customer.fill(customer.modal, {"username": "jan"})
    web.views_update(view_id=opened["id"], view={**form, "callback_id": "again"})
    assert customer.modal.state_values()["username"]["a"]["value"] == "jan"


def test_views_publish_sets_the_app_home_of_a_user(slack, web):
    web.views_publish(user_id=MANAGER, view={"type": "home", "blocks": [{"type": "divider"}]})
    first = slack.user(MANAGER).home
    web.views_publish(user_id=MANAGER, view={"type": "home", "blocks": []})
    assert slack.user(MANAGER).home.id == first.id
    assert slack.user(MANAGER).home.blocks == []


def test_users_info_of_an_external_user_names_their_team_and_no_locale(web):
    user = web.users_info(user=CUSTOMER, include_locale=True)["user"]
    assert user["team_id"] == CUSTOMER_TEAM
    assert "locale" not in user


def test_users_info_of_an_internal_user_has_a_locale_when_asked(web):
    assert web.users_info(user=MANAGER, include_locale=True)["user"]["locale"] == "nl-NL"


def test_users_info_marks_a_stranger(web):
    assert web.users_info(user=STRANGER)["user"]["is_stranger"] is True


def test_conversations_info_of_the_shared_channel(web):
    channel = web.conversations_info(channel=SHARED_CHANNEL)["channel"]
    assert channel["is_ext_shared"] is True
    assert channel["is_member"] is True


def test_the_status_channel_is_not_externally_shared(web):
    assert web.conversations_info(channel=STATUS_CHANNEL)["channel"]["is_ext_shared"] is False


def test_conversations_members_pages_with_a_cursor(web):
    first = web.conversations_members(channel=SHARED_CHANNEL, limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    second = web.conversations_members(channel=SHARED_CHANNEL, limit=2, cursor=cursor)
    assert first["members"] + second["members"] == [MANAGER, CUSTOMER, "U0BOT"]
    assert second["response_metadata"]["next_cursor"] == ""


def test_conversations_open_gives_a_dm_channel_to_post_in(slack, web):
    channel = web.conversations_open(users=MANAGER)["channel"]["id"]
    web.chat_postMessage(channel=channel, text="Hoi")
    assert [m.text for m in slack.user(MANAGER).messages(channel)] == ["Hoi"]


def test_usergroup_members_and_team_info(web):
    assert web.usergroups_users_list(usergroup="S0MANAGERS")["users"] == [MANAGER]
    assert web.team_info(team=CUSTOMER_TEAM)["team"]["id"] == CUSTOMER_TEAM


def test_every_call_is_recorded_with_its_arguments(slack, web):
    web.chat_postMessage(channel=SHARED_CHANNEL, text="Welkom")
    [call] = slack.calls("chat.postMessage")
    assert call.args["text"] == "Welkom"
    assert call.response["ok"] is True


def test_a_rate_limit_answers_429_with_retry_after_once(slack, web):
    slack.fail("chat.postMessage", status=429, retry_after=7)
    error = error_of(lambda: web.chat_postMessage(channel=SHARED_CHANNEL, text="x"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert web.chat_postMessage(channel=SHARED_CHANNEL, text="x")["ok"]


def test_a_server_error_answers_500(slack, web):
    slack.fail("views.update", status=500, times=None)
    error = error_of(lambda: web.views_update(view_id="V1", view=modal()))
    assert error.response.status_code == 500


def test_a_slow_method_makes_the_client_time_out(slack):
    slack.slow("users.info", 1.0)
    impatient = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=0.2)
    with pytest.raises(TimeoutError):
        impatient.users_info(user=CUSTOMER)


def test_an_error_fault_answers_ok_false(slack, web):
    slack.fail("conversations.info", error="channel_not_found")
    error = error_of(lambda: web.conversations_info(channel=SHARED_CHANNEL))
    assert error.response["error"] == "channel_not_found"
