"""Who acts in a Slack request, and how a view submission is answered."""

from __future__ import annotations

import asyncio
from unittest.mock import Mock

from bot.core.screens import Outcome, UnavailableScreen
from bot.transports.slack.answers import actor_from, answer_submission
from bot.transports.slack.membership import SlackChannelMembership


def test_the_actor_of_an_external_user_carries_their_own_team():
    body = {
        "user": {"id": "U0CUSTOMER", "team_id": "T0CUSTOMER"},
        "team": {"id": "T0OURS"},
        "view": {"app_installed_team_id": "T0OURS"},
        "channel": {"id": "C0SHARED"},
    }
    actor = actor_from(body)
    assert (actor.user_id, actor.team_id, actor.channel_id) == ("U0CUSTOMER", "T0CUSTOMER", None)
    assert actor_from(body, from_channel=True).channel_id == "C0SHARED"


class Recorder:
    """An ack and a Slack client that note what the bot answered."""

    def __init__(self) -> None:
        self.acked: list[dict] = []
        self.updated: list[dict] = []

    async def ack(self, **answer) -> None:
        self.acked.append(answer)

    async def views_update(self, **call) -> None:
        self.updated.append(call)


def answer(recorder: Recorder, use_case, *, quick: bool) -> Outcome:
    return asyncio.run(
        answer_submission(
            recorder.ack,
            recorder,
            lambda outcome: {"type": "modal", "title": type(outcome.screen).__name__},
            language="nl",
            use_case=use_case,
            working_kind="moment",
            quick=quick,
        )
    )


def test_a_quick_step_answers_with_its_next_screen_in_the_ack_and_no_working_view():
    recorder = Recorder()

    async def step() -> Outcome:
        return Outcome(screen=UnavailableScreen(), language="nl")

    answer(recorder, step, quick=True)
    [acked] = recorder.acked
    assert acked == {
        "response_action": "update",
        "view": {"type": "modal", "title": "UnavailableScreen"},
    }
    assert recorder.updated == []


def membership_of_one(user_id: str) -> tuple[SlackChannelMembership, Mock]:
    slack = Mock()
    slack.conversations_members.return_value = {"members": [user_id]}
    return SlackChannelMembership(slack), slack


def test_a_quick_step_asks_slack_nothing_before_the_ack_and_runs_after_a_working_view_if_it_must():
    recorder = Recorder()
    membership, slack = membership_of_one("U0CUSTOMER")
    answers: list[bool] = []

    async def step() -> Outcome:
        answers.append(membership.is_member("C0SHARED", "U0CUSTOMER"))
        return Outcome(screen=UnavailableScreen(), language="nl")

    answer(recorder, step, quick=True)
    [acked] = recorder.acked
    assert acked["view"].title.text == "Een moment"
    assert answers == [True]  # the run before the ack stopped at the membership, unasked
    assert slack.conversations_members.call_count == 1
    [update] = recorder.updated
    assert update["view"]["title"] == "UnavailableScreen"
    assert update["external_id"] == acked["view"].external_id


def test_a_quick_step_by_someone_just_seen_in_the_channel_comes_in_the_ack():
    recorder = Recorder()
    membership, slack = membership_of_one("U0CUSTOMER")
    membership.is_member("C0SHARED", "U0CUSTOMER")  # the Start click, a moment ago

    async def step() -> Outcome:
        membership.is_member("C0SHARED", "U0CUSTOMER")
        return Outcome(screen=UnavailableScreen(), language="nl")

    answer(recorder, step, quick=True)
    assert recorder.acked[0]["view"] == {"type": "modal", "title": "UnavailableScreen"}
    assert slack.conversations_members.call_count == 1


def test_a_slow_step_acks_with_a_working_view_at_once():
    recorder = Recorder()

    async def step() -> Outcome:
        return Outcome(screen=UnavailableScreen(), language="nl")

    answer(recorder, step, quick=False)
    assert recorder.acked[0]["view"].title.text == "Een moment"
    assert len(recorder.updated) == 1
