"""Channel timelines: what the bot posts, updates and deletes, what people type, and the replies
through a response_url."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from typing import Any

from devslack import blockkit
from devslack.workspace import Channel, Workspace
from devslack.world.core import SlackError, required
from devslack.world.directory import WorldDirectory


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict]
    bot_id: str | None = None
    app_id: str | None = None
    team: str = ""
    thread_ts: str | None = None
    # A thread reply also shown in the channel (chat.postMessage's `reply_broadcast`).
    reply_broadcast: bool = False
    visible_to: str | None = None
    edited_ts: str | None = None
    entered: dict[str, dict[str, dict]] = field(default_factory=dict)
    # Message metadata ({"event_type", "event_payload"}) the poster attached, as Slack keeps it.
    metadata: dict | None = None

    @property
    def is_ephemeral(self) -> bool:
        return self.visible_to is not None

    def as_slack(self) -> dict:
        """The message object as Slack sends it in payloads and API answers."""
        message: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": self.team,
        }
        if self.blocks:
            message["blocks"] = copy.deepcopy(self.blocks)
        if self.bot_id:
            message.update(bot_id=self.bot_id, app_id=self.app_id)
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
            if self.reply_broadcast:
                message["subtype"] = "thread_broadcast"
        if self.edited_ts:
            message["edited"] = {"user": self.user, "ts": self.edited_ts}
        return message

    def in_history(self, *, include_metadata: bool) -> dict:
        """The message as conversations.history lists it (metadata only when asked for)."""
        message = self.as_slack()
        if include_metadata and self.metadata:
            message["metadata"] = copy.deepcopy(self.metadata)
        return message


def _flag(value: Any) -> bool:
    """A boolean argument, sent as JSON or as a form field."""
    return value is True or str(value).lower() in ("1", "true")


@dataclass
class ResponseTarget:
    user: str
    channel: str
    message_ts: str | None
    uses_left: int = 5
    expires_at: float = 0.0


class WorldMessages(WorldDirectory):
    """Every channel's messages (an ephemeral one visible to one person) and live response_urls."""

    def __init__(self, workspace: Workspace, *, bot_token: str):
        super().__init__(workspace, bot_token=bot_token)
        self.messages: dict[str, list[Message]] = {}
        self.response_targets: dict[str, ResponseTarget] = {}

    def visible_messages(self, channel_id: str, user_id: str | None = None) -> list[Message]:
        """The channel's timeline as `user_id` sees it (everyone's view when None)."""
        with self.lock:
            return [
                copy.deepcopy(message)
                for message in self.messages.get(channel_id, [])
                if message.visible_to is None or message.visible_to == user_id
            ]

    def find_message(self, channel_id: str, ts: str) -> Message:
        with self.lock:
            for message in self.messages.get(channel_id, []):
                if message.ts == ts:
                    return message
            raise SlackError("message_not_found")

    def _new_message(self, channel: Channel, args: dict, *, visible_to: str | None) -> Message:
        blocks = args.get("blocks") or []
        text = args.get("text") or ""
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if blocks:
            problems = blockkit.message_problems(blocks)
            if problems:
                raise SlackError("invalid_blocks", problems)
        bot = self.workspace
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            user=bot.bot_user,
            text=text,
            blocks=blockkit.with_generated_ids(blocks),
            bot_id=bot.bot_id,
            app_id=bot.app_id,
            team=bot.home_team,
            thread_ts=args.get("thread_ts"),
            reply_broadcast=bool(args.get("thread_ts")) and _flag(args.get("reply_broadcast")),
            visible_to=visible_to,
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
        )
        self.messages.setdefault(channel.id, []).append(message)
        self._touch()
        return message

    def post_message(self, args: dict) -> dict:
        with self.lock:
            channel = self._target_channel(required(args, "channel"))
            message = self._new_message(channel, args, visible_to=None)
            return {"channel": channel.id, "ts": message.ts, "message": message.as_slack()}

    def history(self, args: dict) -> dict:
        """conversations.history: the channel's messages newest first, after `oldest` (a ts,
        exclusive), at most `limit`; ephemeral ones are nobody's history. The bot must be in the
        channel; metadata comes only with `include_all_metadata`."""
        with self.lock:
            channel = self.channel(required(args, "channel"))
            if self.workspace.bot_user not in channel.members:
                raise SlackError("not_in_channel")
            oldest = float(args.get("oldest") or 0)
            limit = int(args.get("limit") or 100)
            with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
            listed = [
                message
                for message in reversed(self.messages.get(channel.id, []))
                if not message.is_ephemeral and float(message.ts) > oldest
            ]
            return {
                "messages": [m.in_history(include_metadata=with_metadata) for m in listed[:limit]],
                "has_more": len(listed) > limit,
            }

    def post_ephemeral(self, args: dict) -> dict:
        with self.lock:
            channel = self._target_channel(required(args, "channel"))
            user_id = required(args, "user")
            self.user(user_id)
            if user_id not in channel.members:
                raise SlackError("user_not_in_channel")
            message = self._new_message(channel, args, visible_to=user_id)
            return {"message_ts": message.ts}

    def update_message(self, args: dict) -> dict:
        with self.lock:
            channel = self.channel(required(args, "channel"))
            message = self.find_message(channel.id, required(args, "ts"))
            if message.bot_id != self.workspace.bot_id:
                raise SlackError("cant_update_message")
            if "blocks" in args and args["blocks"] is not None:
                problems = blockkit.message_problems(args["blocks"])
                if problems:
                    raise SlackError("invalid_blocks", problems)
                message.blocks = blockkit.with_generated_ids(args["blocks"])
                message.entered = blockkit.kept_entries(message.blocks, message.entered)
            if "text" in args and args["text"] is not None:
                message.text = args["text"]
            message.edited_ts = self._next_ts()
            self._touch()
            return {
                "channel": channel.id,
                "ts": message.ts,
                "text": message.text,
                "message": message.as_slack(),
            }

    def delete_message(self, args: dict) -> dict:
        with self.lock:
            channel = self.channel(required(args, "channel"))
            message = self.find_message(channel.id, required(args, "ts"))
            if message.bot_id != self.workspace.bot_id:
                raise SlackError("cant_delete_message")
            self.messages[channel.id].remove(message)
            self._touch()
            return {"channel": channel.id, "ts": message.ts}

    def post_as_person(self, user_id: str, channel_id: str, text: str) -> Message:
        """A person typing into the message box (the browser stand-in)."""
        with self.lock:
            user = self.user(user_id)
            channel = self.channel(channel_id)
            message = Message(channel.id, self._next_ts(), user_id, text, [], team=user.team_id)
            self.messages.setdefault(channel.id, []).append(message)
            self._touch()
            return copy.deepcopy(message)

    def respond(self, token: str, body: dict) -> None:
        """A POST to a response_url: reply, replace or delete the original, as Slack does."""
        with self.lock:
            target = self.response_targets.get(token)
            if target is None or target.uses_left <= 0 or self.now() > target.expires_at:
                raise SlackError("expired_url")
            target.uses_left -= 1
            channel = self.channel(target.channel)
            if body.get("delete_original") and target.message_ts:
                original = self.find_message(channel.id, target.message_ts)
                self.messages[channel.id].remove(original)
                self._touch()
                return
            if body.get("replace_original") and target.message_ts:
                original = self.find_message(channel.id, target.message_ts)
                blocks = body.get("blocks") or []
                problems = blockkit.message_problems(blocks)
                if problems:
                    raise SlackError("invalid_blocks", problems)
                original.blocks = blockkit.with_generated_ids(blocks)
                original.text = body.get("text", "")
                original.edited_ts = self._next_ts()
                self._touch()
                return
            in_channel = body.get("response_type") == "in_channel"
            self._new_message(channel, body, visible_to=None if in_channel else target.user)

    def response_url_for(self, user_id: str, channel_id: str, message_ts: str | None) -> str:
        with self.lock:
            token = secrets.token_urlsafe(12)
            self.response_targets[token] = ResponseTarget(
                user_id, channel_id, message_ts, expires_at=self.now() + 30 * 60
            )
            return f"{self.public_url}/response/{token}"
