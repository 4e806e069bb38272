"""The move to the REST API as Slack draws it: the messages in the client's channel and the
relink's choice of companies."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import WorkingCalendar
from bot.core.events import LinkMoveRequested, LinkNeedsRelink
from bot.core.matching import CompanyMatch, MatchedBy
from bot.core.model import Company
from bot.core.screens import CompanyChoiceScreen, Outcome
from bot.reports import LinkEventNotices
from bot.transports.slack.render import SlackRenderer
from bot.transports.slack.views.links import ACTION_RELINK, link_view

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
    assert "1 maart 2027" in message.blocks[0]["text"]["text"]
    assert "toestemming" in message.blocks[0]["text"]["text"]
    [button] = buttons(message)
    assert (button["action_id"], button["value"]) == (ACTION_RELINK, "7.nl")
    report = drawn(event)["C0STATUS"][1].text
    assert "REST API" in report and "1 March 2027" in report


def test_after_the_soap_end_the_relink_request_explains_the_consent_not_a_token():
    event = LinkNeedsRelink(**common("en"), reason="soap_ended", notice_key="k")
    (_, message) = drawn(event)["C0SHARED"]
    text = message.blocks[0]["text"]["text"]
    assert "switched off its old API (SOAP)" in text and "consent" in text
    assert "API token to paste" in text
    [button] = buttons(message)
    assert button["action_id"] == ACTION_RELINK


def test_the_relink_choice_says_per_linked_company_how_it_was_found():
    linked = [
        Company(id="48201", number=1, name="Bakkerij <Korst>", guid="g1"),
        Company(id="48202", number=2, name="Fietsen"),
        Company(id="48205", number=5, name="Jansen"),
    ]
    found = [Company(id="g1", number=1, name="Bakkerij <Korst>"), Company("r2", 2, "Fietsen")]
    matches = (
        CompanyMatch(linked[0], found[0], MatchedBy.GUID),
        CompanyMatch(linked[1], found[1], MatchedBy.NUMBER_AND_NAME),
        CompanyMatch(linked[2], None, MatchedBy.NOT_FOUND),
    )
    screen = CompanyChoiceScreen(companies=tuple(found), preselected=tuple(found), matches=matches)
    view = link_view(Outcome(screen=screen, language="en"), private_metadata=None)
    lines = view["blocks"][0]["text"]["text"].splitlines()
    assert lines[1:] == [
        "✓ *1 Bakkerij &lt;Korst&gt;*: found (the same company in Nmbrs)",
        "✓ *2 Fietsen*: found by number and name",
        "✗ *5 Jansen*: not found. This login does not have access to the company; if needed,"
        " adjust the client login's filter and reconnect.",
    ]
    assert view["blocks"][0]["text"]["verbatim"] is True
