"""Slack's mrkdwn: user data as literal text, and who can be mentioned."""

from __future__ import annotations


def escape(text: str) -> str:
    """User data (client and company names, usernames) as literal text inside mrkdwn: no
    accidental links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def is_person(actor: str) -> bool:
    """A Slack user id (a person, who can be mentioned), as opposed to "system" or "cli"."""
    return actor[:1] in ("U", "W") and actor.isalnum()
