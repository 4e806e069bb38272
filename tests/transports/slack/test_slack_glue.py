"""The Slack-side helpers of the conversation: signed metadata, who acts, channel membership
(against the fake Slack over HTTP)."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.service import MembershipUnknown, StepRef
from bot.transports.slack.answers import actor_from
from bot.transports.slack.membership import SlackChannelMembership
from bot.transports.slack.metadata import MetadataSigner
from devslack import run_devslack
from devslack.workspace import Channel


def test_signed_metadata_round_trips():
    signer = MetadataSigner("secret")
    metadata = signer.verify(signer.sign(StepRef(42, 7), "en"))
    assert metadata is not None
    assert (metadata.ref, metadata.language) == (StepRef(42, 7), "en")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda text: text.replace("42.", "43.", 1),
        lambda text: text.replace(".7.", ".8.", 1),
        lambda text: text[:-1] + ("0" if text[-1] != "0" else "1"),
        lambda text: "",
        lambda text: "42.7.en",
    ],
)
def test_edited_metadata_is_refused(tamper):
    signer = MetadataSigner("secret")
    assert signer.verify(tamper(signer.sign(StepRef(42, 7), "en"))) is None


def test_metadata_signed_with_another_secret_is_refused():
    assert (
        MetadataSigner("other").verify(MetadataSigner("secret").sign(StepRef(1, 0), "nl")) is None
    )


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


@pytest.fixture
def fake_slack():
    with run_devslack() as slack:
        slack.workspace.add_channel(
            Channel("C0BIG", "big", [f"U{n:04d}" for n in range(250)] + ["U0CUSTOMER"])
        )
        yield slack


def membership(slack, **options) -> SlackChannelMembership:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    return SlackChannelMembership(client, **options)


def test_members_are_read_across_pages(fake_slack):
    members = membership(fake_slack, page_size=100)
    assert members.is_member("C0BIG", "U0CUSTOMER")
    assert not members.is_member("C0BIG", "U0STRANGER")
    assert len(fake_slack.calls("conversations.members")) == 3


def test_membership_is_cached_briefly(fake_slack):
    now = [100.0]
    members = membership(fake_slack, ttl=30, monotonic=lambda: now[0])
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    now[0] += 29
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    assert len(fake_slack.calls("conversations.members")) == 1
    now[0] += 2
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    assert len(fake_slack.calls("conversations.members")) == 2


def test_nobody_is_a_member_of_an_unknown_channel(fake_slack):
    assert not membership(fake_slack).is_member("C0NOWHERE", "U0CUSTOMER")


def test_a_failing_slack_makes_membership_unknown(fake_slack):
    fake_slack.fail("conversations.members", status=500)
    with pytest.raises(MembershipUnknown):
        membership(fake_slack).is_member("C0SHARED", "U0CUSTOMER")
