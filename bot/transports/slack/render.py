"""Notices (bot.core.notices) drawn as Slack messages: the text and the blocks.

The kind of a notice says what to draw, its values what from: the event of a report or link
notice, the summaries of the digest and a nudge, the invite's status. Rows queued before
notices existed hold Slack's finished payload (`slack_payload`), drawn as it is. Every other
message has blocks whose mrkdwn is verbatim: names of clients and companies are data, never
links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.clock import WorkingCalendar
from bot.core.events import LinkEvent, OnboardingEvent, event_type
from bot.core.migration import MigrationStatus
from bot.core.model import InviteStatus
from bot.core.notices import Notice, from_values
from bot.reports import THREAD_KIND, OnboardingSummary
from bot.transports.slack.mrkdwn import verbatim_sections
from bot.transports.slack.views.invite import invite_message
from bot.transports.slack.views.links import LinkMessages
from bot.transports.slack.views.reports import ReportMessages

SLACK_PAYLOAD = "slack_payload"


@dataclass(frozen=True)
class SlackMessage:
    """What a notice is in Slack: the text (the notification's, or the whole message) and
    the blocks, if any."""

    text: str
    blocks: list[dict[str, Any]] | None = None


class SlackRenderer:
    """Draws notices; `calendar` gives the local dates and times they show."""

    def __init__(self, *, calendar: WorkingCalendar):
        self.calendar = calendar

    def render(self, notice: Notice) -> SlackMessage:
        """The notice drawn; a message of text alone gets that text as verbatim sections too,
        so the names in it are shown as written (Slack links bare URLs in a message's text)."""
        values = notice.values
        if SLACK_PAYLOAD in values:
            payload = values[SLACK_PAYLOAD]
            return SlackMessage(payload["text"], payload.get("blocks"))
        message = self._draw(notice)
        if message.blocks:
            return message
        return SlackMessage(message.text, verbatim_sections(message.text))

    def _draw(self, notice: Notice) -> SlackMessage:
        values = notice.values
        if notice.kind == "invite_update":
            message = invite_message(from_values(InviteStatus, values["status"]))
            return SlackMessage(message.text, message.blocks)
        reports = ReportMessages(language=notice.language, calendar=self.calendar)
        if notice.kind == "digest":
            text = reports.digest(
                [from_values(OnboardingSummary, row) for row in values["open"]],
                values["ended"],
                day=date.fromisoformat(values["day"]),
                stalled_after_days=values["stalled_after_days"],
                migration=(
                    from_values(MigrationStatus, values["migration"])
                    if values.get("migration")
                    else None
                ),
            )
            return SlackMessage(text)
        if notice.kind == "nudge":
            row = from_values(OnboardingSummary, values["summary"])
            return SlackMessage(reports.nudge(row, values["number"]))
        if notice.kind == THREAD_KIND:
            return SlackMessage(
                *reports.thread_parent(from_values(OnboardingSummary, values["summary"]))
            )
        event = from_values(event_type(values["event_kind"]), values["event"])
        owner = values.get("owner")
        if isinstance(event, OnboardingEvent):
            if notice.kind.startswith("dm."):
                return SlackMessage(reports.manager_message(event))
            return SlackMessage(reports.for_owner(reports.event_text(event), owner))
        assert isinstance(event, LinkEvent), notice.kind
        links = LinkMessages(language=notice.language)
        if notice.kind == "link_notice":
            return SlackMessage(*links.relink_request(event))
        if notice.kind == "link_move_request":
            return SlackMessage(*links.move_request(event))
        if notice.kind == "link_notice_update":
            return SlackMessage(*links.request_settled(event))
        if notice.kind.startswith("dm."):
            return SlackMessage(links.manager_message(event))
        return SlackMessage(reports.for_owner(links.report(event), owner))
