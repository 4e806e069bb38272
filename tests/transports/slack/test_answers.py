"""Who acts in a Slack request."""

from __future__ import annotations

from bot.transports.slack.answers import actor_from


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
