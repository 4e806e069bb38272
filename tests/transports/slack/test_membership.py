"""Who is in a client's channel, read from the fake Slack over HTTP and cached briefly."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.ports import MembershipUnknown
from bot.transports.slack.membership import NotCached, SlackChannelMembership, from_cache_only
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


def test_before_an_ack_a_recently_seen_member_passes_without_asking_slack(fake_slack):
    now = [100.0]
    members = membership(fake_slack, ttl=30, recent=300, monotonic=lambda: now[0])
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    now[0] += 299
    with from_cache_only():
        assert members.is_member("C0SHARED", "U0CUSTOMER")
    assert len(fake_slack.calls("conversations.members")) == 1


@pytest.mark.parametrize(
    ("seen_ago", "user"),
    [(301, "U0CUSTOMER"), (1, "U0STRANGER")],
    ids=["seen too long ago", "not seen in the channel"],
)
def test_before_an_ack_what_the_cache_cannot_vouch_for_is_left_to_slack(fake_slack, seen_ago, user):
    now = [100.0]
    members = membership(fake_slack, ttl=30, recent=300, monotonic=lambda: now[0])
    members.is_member("C0SHARED", "U0CUSTOMER")
    now[0] += seen_ago
    with from_cache_only(), pytest.raises(NotCached):
        members.is_member("C0SHARED", user)
    assert len(fake_slack.calls("conversations.members")) == 1


def test_before_an_ack_an_unseen_channel_is_not_asked_for(fake_slack):
    with from_cache_only(), pytest.raises(NotCached):
        membership(fake_slack).is_member("C0SHARED", "U0CUSTOMER")
    assert fake_slack.calls("conversations.members") == []
