"""The messages of the move to the REST API in the client's channel, as Slack draws them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import WorkingCalendar
from bot.core.events import LinkMoveRequested, LinkNeedsRelink
from bot.reports import LinkEventNotices
from bot.transports.slack.render import SlackRenderer
from bot.transports.slack.views.links import ACTION_RELINK

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def drawn(event):
    notices = LinkEventNotices(status_channel="C0STATUS", language="en").notices_for(event)
    renderer = SlackRenderer(calendar=WorkingCalendar("Europe/Amsterdam"))
    return {notice.recipient: (notice, renderer.render(notice)) for notice in notices}


def common(language: str = "nl") -> dict:
    return {
        "onboarding_id": 7,
        "link_id": 3,
        "client_name": "Bakkerij <de Vries>",
        "channel_id": "C0SHARED",
        "language": language,
        "actor": "cli",
        "at": AT,
    }


def buttons(message) -> list[dict]:
    return [
        element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_the_move_request_asks_the_channel_to_consent_with_the_relink_button():
    event = LinkMoveRequested(
        **common(), notice_key="link_move_request:3", soap_ends_on="2027-03-01"
    )
    (notice, message) = drawn(event)["C0SHARED"]
    assert notice.dedupe_key == "link_move_request:3"
    assert "01-03-2027" in message.blocks[0]["text"]["text"]
    assert "toestemming" in message.blocks[0]["text"]["text"]
    [button] = buttons(message)
    assert (button["action_id"], button["value"]) == (ACTION_RELINK, "7.nl")
    report = drawn(event)["C0STATUS"][1].text
    assert "REST API" in report and "2027-03-01" in report


def test_after_the_soap_end_the_relink_request_explains_the_consent_not_a_token():
    event = LinkNeedsRelink(**common("en"), reason="soap_ended", notice_key="k")
    (_, message) = drawn(event)["C0SHARED"]
    text = message.blocks[0]["text"]["text"]
    assert "switched off its old API (SOAP)" in text and "consent" in text
    assert "API token to paste" in text
    [button] = buttons(message)
    assert button["action_id"] == ACTION_RELINK
