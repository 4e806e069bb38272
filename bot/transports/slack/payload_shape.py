"""What a payload lacks that Slack always sends for its kind.

bot.transports.slack.http answers 400 to a signed payload with such a gap before bolt reads it,
so listeners may rely on those fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BAD_REQUEST = {"error": "the request is not a Slack payload this app can handle"}
INTERACTIONS = ("block_actions", "view_submission", "view_closed", "block_suggestion")
COMMAND_FIELDS = ("command", "user_id", "channel_id", "team_id", "trigger_id")
VIEW_FIELDS = ("id", "type", "callback_id", "private_metadata")
# Slack refuses to show a view with more; a longer one was not sent by Slack.
MAX_PRIVATE_METADATA = 3000


def shape_error(body: Any) -> str | None:
    """What the payload lacks that Slack always sends for its kind; None when it is complete."""
    if not isinstance(body, dict):
        return "not an object"
    if "command" in body:
        return _missing_text(body, COMMAND_FIELDS) or _wrong_type(body, "text", str)
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event"
        if event["type"] == "app_home_opened":
            return _missing_text(event, ("user",)) and "event.user"
        return None
    if kind not in INTERACTIONS:
        return None
    user = body.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "user.id"
    for name in ("team", "channel", "container", "message"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return name
    view = body.get("view")
    if view is not None or kind in ("view_submission", "view_closed"):
        if not isinstance(view, dict):
            return "view"
        missing = _missing_text(view, VIEW_FIELDS)
        state = view.get("state")
        if missing or not isinstance(state, dict) or not isinstance(state.get("values"), dict):
            return f"view.{missing or 'state.values'}"
        if len(view["private_metadata"]) > MAX_PRIVATE_METADATA:
            return "view.private_metadata within Slack's limit"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "actions.action_id"
        return _missing_text(body, ("trigger_id",))
    if kind == "block_suggestion":
        return _missing_text(body, ("action_id", "value"))
    return None


def _missing_text(mapping: dict, names: Sequence[str]) -> str | None:
    return next((name for name in names if not isinstance(mapping.get(name), str)), None)


def _wrong_type(mapping: dict, name: str, kind: type) -> str | None:
    return name if name in mapping and not isinstance(mapping[name], kind) else None
