"""Slack's mrkdwn: the only place that knows how Slack spells a mention, a link or emphasis.

The catalogues (`bot/i18n`) are plain text with named placeholders, so another chat tool can
use them too. Slack's builders fill those placeholders with values made here: a client name
in bold, a channel as `<#C…>`, a person as `<@U…>`, a link as `<url|label>`.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject

from bot.i18n import Catalogue

# The slash command of manifest.yml, as the texts name it.
ONBOARD_COMMAND = "/onboard"
# A section's text holds at most this many characters.
SECTION_TEXT_LIMIT = 3000
# Posted messages carry names of clients and companies, which are data: no previews of what
# they may hold.
NO_UNFURL = {"unfurl_links": False, "unfurl_media": False}


def verbatim(text: str) -> MarkdownTextObject:
    """mrkdwn exactly as written here: Slack links only what `mention`, `channel` and `link`
    spell, never a bare URL, channel name or @name inside a client's or company's name."""
    return MarkdownTextObject(text=text, verbatim=True)


def verbatim_sections(text: str) -> list[dict[str, Any]]:
    """A message's text as section blocks of `verbatim` mrkdwn (a message's own text is
    auto-linked by Slack), split between lines to fit SECTION_TEXT_LIMIT."""
    chunks: list[str] = []
    for line in text.split("\n"):
        while len(line) > SECTION_TEXT_LIMIT:
            chunks.append(line[:SECTION_TEXT_LIMIT])
            line = line[SECTION_TEXT_LIMIT:]
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_TEXT_LIMIT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return [
        {"type": "section", "text": verbatim(chunk).to_dict()} for chunk in chunks if chunk.strip()
    ]


def escape(text: str) -> str:
    """User data (client and company names, usernames) as literal text inside mrkdwn: no
    accidental links, mentions or entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_person(actor: str) -> bool:
    """A Slack user id (a person, who can be mentioned), as opposed to "system" or "cli"."""
    return actor[:1] in ("U", "W") and actor.isalnum()


def bold(text: str) -> str:
    return f"*{text}*"


def italic(text: str) -> str:
    return f"_{text}_"


def code(text: str) -> str:
    return f"`{text}`"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


def button_label(texts: Catalogue, key: str) -> str:
    """A button a sentence names ("press *Check again*"): the button's own text, in bold."""
    return bold(texts.text(key))


def with_lead(texts: Catalogue, key: str, lead: str | None = None, **values: object) -> str:
    """A text whose `{lead}` sentence is its own key (`<key>_lead` unless named), in bold."""
    lead_text = texts.text(lead or f"{key}_lead", **values)
    return texts.text(key, lead=bold(lead_text), **values)
