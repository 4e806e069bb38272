"""Who is in a client's channel, read from the fake Slack over HTTP and cached briefly."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.ports import MembershipUnknown
from bot.transports.slack.membership import SlackChannelMembership
from devslack import run_devslack
from devslack.workspace import Channel


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


def test_past_the_channels_kept_the_expired_ones_are_forgotten(fake_slack, monkeypatch):
    monkeypatch.setattr("bot.transports.slack.membership.MAX_CHANNELS_KEPT", 2)
    for channel in ("C0ONE", "C0TWO", "C0THREE"):
        fake_slack.workspace.add_channel(Channel(channel, channel.lower(), ["U0CUSTOMER"]))
    now = [100.0]
    members = membership(fake_slack, ttl=30, monotonic=lambda: now[0])
    members.is_member("C0ONE", "U0CUSTOMER")
    members.is_member("C0TWO", "U0CUSTOMER")
    assert members.channels_kept == 2
    now[0] += 31
    assert members.is_member("C0THREE", "U0CUSTOMER")
    assert members.channels_kept == 1
