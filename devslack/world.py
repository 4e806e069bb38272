"""The truth of the fake Slack: what the bot showed to whom, and the rules Slack applies to it.

One `World` is shared by the Web API (the bot's side), the driver and the browser (the people's
side). Every mutation happens under one lock and wakes whoever waits for a change.
"""

from __future__ import annotations

import base64
import copy
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from devslack import blockkit
from devslack.workspace import Channel, User, Workspace

T = TypeVar("T")


class SlackError(Exception):
    """A Web API error answer: `{"ok": false, "error": code}` (plus details)."""

    def __init__(self, error: str, messages: list[str] | None = None, **extra: Any):
        super().__init__(error if not messages else f"{error}: {'; '.join(messages)}")
        self.error = error
        self.messages = messages or []
        self.extra = extra

    def body(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


class ClientRefused(Exception):
    """What Slack's own client would not do or would show as a generic error (a bot bug)."""


class IncompleteForm(ClientRefused):
    """Slack's client refuses to submit: a required input is empty (shown inline on the view)."""


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
    visible_to: str | None = None
    edited_ts: str | None = None
    entered: dict[str, dict[str, dict]] = field(default_factory=dict)

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
        if self.edited_ts:
            message["edited"] = {"user": self.user, "ts": self.edited_ts}
        return message


@dataclass
class View:
    id: str
    user: str
    body: dict
    hash: str
    team_id: str
    app_id: str
    bot_id: str
    root_view_id: str
    previous_view_id: str | None = None
    entered: dict[str, dict[str, dict]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    client_error: str | None = None
    closed: bool = False

    @property
    def type(self) -> str:
        return self.body["type"]

    @property
    def blocks(self) -> list[dict]:
        return self.body.get("blocks", [])

    @property
    def title(self) -> str:
        return self.body.get("title", {}).get("text", "")

    @property
    def external_id(self) -> str:
        return self.body.get("external_id", "")

    @property
    def private_metadata(self) -> str:
        return self.body.get("private_metadata", "")

    @property
    def callback_id(self) -> str:
        return self.body.get("callback_id", "")

    def state_values(self) -> dict:
        return blocks_state(self.blocks, self.entered)

    def text(self) -> str:
        """All visible text of the view, for assertions such as `"token" in view.text()`."""
        return surface_text(self.body)

    def as_slack(self) -> dict:
        """The view object as Slack returns it and sends it in payloads."""
        view = {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": copy.deepcopy(self.blocks),
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": self.state_values()},
            "hash": self.hash,
            "title": self.body.get("title"),
            "clear_on_close": bool(self.body.get("clear_on_close", False)),
            "notify_on_close": bool(self.body.get("notify_on_close", False)),
            "close": self.body.get("close"),
            "submit": self.body.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": self.app_id,
            "external_id": self.external_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if self.type == "home":
            for key in ("title", "close", "submit", "clear_on_close", "notify_on_close"):
                view.pop(key)
        return view


def blocks_state(blocks: list[dict], entered: dict) -> dict:
    return copy.deepcopy(blockkit.state_of(blocks, entered))


def surface_text(node: Any) -> str:
    """Every `text` string in a block structure, joined by newlines."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                found.append(value["text"])
            for key, child in value.items():
                if key not in ("text", "private_metadata") or not isinstance(child, str):
                    walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(node)
    return "\n".join(found)


@dataclass
class Trigger:
    id: str
    user: str
    issued_at: float
    used: bool = False


@dataclass
class Call:
    """One Web API call as the bot made it."""

    method: str
    args: dict
    at: float
    status: int
    response: dict


@dataclass
class Fault:
    method: str
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    remaining: int | None = 1


@dataclass
class ResponseTarget:
    user: str
    channel: str
    message_ts: str | None
    uses_left: int = 5
    expires_at: float = 0.0


class World:
    """State and rules of the fake Slack; all public methods are thread-safe."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        bot_token: str,
        trigger_lifetime: float = 3.0,
    ):
        self.workspace = workspace
        self.bot_token = bot_token
        self.trigger_lifetime = trigger_lifetime
        self.public_url = ""
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.version = 0
        self.closing = False
        self.messages: dict[str, list[Message]] = {}
        self.views: dict[str, View] = {}
        self.stacks: dict[str, list[str]] = {}
        self.homes: dict[str, str] = {}
        self.triggers: dict[str, Trigger] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.response_targets: dict[str, ResponseTarget] = {}
        self._clock_offset = 0.0
        self._last_ts = 0.0

    # ---- time, ids, change notification -------------------------------------------------

    def now(self) -> float:
        """Monotonic seconds shifted by `advance`, so tests can expire triggers without sleeping."""
        return time.monotonic() + self._clock_offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._clock_offset += seconds

    def _next_ts(self) -> str:
        stamp = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = stamp
        return f"{stamp:.6f}"

    def _touch(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def wait_until(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until `predicate()` is truthy (re-checked after every change); return its value."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake Slack: condition not met within {timeout} s")
                self.changed.wait(left)

    # ---- calls and faults ------------------------------------------------------------------

    def record(self, method: str, args: dict, status: int, response: dict) -> None:
        with self.lock:
            self.calls.append(Call(method, args, time.time(), status, response))
            self._touch()

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self.faults.remove(fault)
                    return fault
            return None

    # ---- people and places -----------------------------------------------------------------

    def user(self, user_id: str) -> User:
        users = self.workspace.users
        if user_id not in users:
            raise SlackError("user_not_found")
        return users[user_id]

    def channel(self, channel_id: str) -> Channel:
        channels = self.workspace.channels
        if channel_id in channels:
            return channels[channel_id]
        name = channel_id.lstrip("#")
        for channel in channels.values():
            if channel.name == name:
                return channel
        raise SlackError("channel_not_found")

    def dm_channel(self, user_id: str) -> Channel:
        """The bot's direct-message channel with a user (the App's Messages tab)."""
        with self.lock:
            self.user(user_id)
            channel_id = "D" + user_id[1:]
            channels = self.workspace.channels
            if channel_id not in channels:
                channels[channel_id] = Channel(
                    channel_id,
                    channel_id,
                    [user_id, self.workspace.bot_user],
                    shared_team_ids=[self.workspace.home_team],
                    is_private=True,
                    is_im=True,
                )
            return channels[channel_id]

    def _target_channel(self, channel_id: str) -> Channel:
        if channel_id.startswith(("U", "W")):
            return self.dm_channel(channel_id)
        channel = self.channel(channel_id)
        if self.workspace.bot_user not in channel.members:
            raise SlackError("channel_not_found" if channel.is_private else "not_in_channel")
        return channel

    # ---- messages --------------------------------------------------------------------------

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
            visible_to=visible_to,
        )
        self.messages.setdefault(channel.id, []).append(message)
        self._touch()
        return message

    def post_message(self, args: dict) -> dict:
        with self.lock:
            channel = self._target_channel(_required(args, "channel"))
            message = self._new_message(channel, args, visible_to=None)
            return {"channel": channel.id, "ts": message.ts, "message": message.as_slack()}

    def post_ephemeral(self, args: dict) -> dict:
        with self.lock:
            channel = self._target_channel(_required(args, "channel"))
            user_id = _required(args, "user")
            self.user(user_id)
            if user_id not in channel.members:
                raise SlackError("user_not_in_channel")
            message = self._new_message(channel, args, visible_to=user_id)
            return {"message_ts": message.ts}

    def update_message(self, args: dict) -> dict:
        with self.lock:
            channel = self.channel(_required(args, "channel"))
            message = self.find_message(channel.id, _required(args, "ts"))
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
            channel = self.channel(_required(args, "channel"))
            message = self.find_message(channel.id, _required(args, "ts"))
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

    # ---- triggers --------------------------------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        with self.lock:
            trigger_id = f"{int(time.time())}.{len(self.triggers) + 1}.{secrets.token_hex(8)}"
            self.triggers[trigger_id] = Trigger(trigger_id, user_id, self.now())
            return trigger_id

    def _exchange(self, trigger_id: str | None) -> Trigger:
        trigger = self.triggers.get(trigger_id or "")
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.now() - trigger.issued_at > self.trigger_lifetime:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    # ---- views -----------------------------------------------------------------------------

    def _checked_view(self, view: Any, *, kind: str, replacing: View | None = None) -> dict:
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
        problems = blockkit.view_problems(view)
        if not problems and view.get("type") != kind:
            problems = [f"[ERROR] must be {kind} [json-pointer:/view/type]"]
        if problems:
            raise SlackError("invalid_arguments", problems)
        external_id = view.get("external_id")
        if external_id and any(
            other.external_id == external_id and not other.closed and other is not replacing
            for other in self.views.values()
        ):
            raise SlackError("duplicate_external_id")
        body = copy.deepcopy(view)
        body["blocks"] = blockkit.with_generated_ids(body.get("blocks", []))
        return body

    def _new_view(
        self, user_id: str, body: dict, *, root: str | None, previous: str | None
    ) -> View:
        view_id = "V" + secrets.token_hex(5).upper()
        view = View(
            id=view_id,
            user=user_id,
            body=body,
            hash=self._new_hash(),
            team_id=self.workspace.home_team,
            app_id=self.workspace.app_id,
            bot_id=self.workspace.bot_id,
            root_view_id=root or view_id,
            previous_view_id=previous,
        )
        self.views[view_id] = view
        return view

    def _new_hash(self) -> str:
        return f"{time.time():.0f}.{secrets.token_hex(4)}"

    def stack(self, user_id: str) -> list[View]:
        with self.lock:
            return [copy.deepcopy(self.views[v]) for v in self.stacks.get(user_id, [])]

    def top_view(self, user_id: str) -> View | None:
        with self.lock:
            stack = self.stacks.get(user_id, [])
            return copy.deepcopy(self.views[stack[-1]]) if stack else None

    def home(self, user_id: str) -> View | None:
        with self.lock:
            view_id = self.homes.get(user_id)
            return copy.deepcopy(self.views[view_id]) if view_id else None

    def view(self, view_id: str) -> View:
        with self.lock:
            if view_id not in self.views:
                raise SlackError("not_found")
            return copy.deepcopy(self.views[view_id])

    def open_view(self, args: dict) -> dict:
        with self.lock:
            body = self._checked_view(args.get("view"), kind="modal")
            trigger = self._exchange(args.get("trigger_id") or args.get("interactivity_pointer"))
            for old in self.stacks.get(trigger.user, []):
                self.views[old].closed = True
            view = self._new_view(trigger.user, body, root=None, previous=None)
            self.stacks[trigger.user] = [view.id]
            self._touch()
            return {"view": view.as_slack()}

    def push_view(self, args: dict) -> dict:
        with self.lock:
            body = self._checked_view(args.get("view"), kind="modal")
            trigger = self._exchange(args.get("trigger_id") or args.get("interactivity_pointer"))
            return {"view": self._push(trigger.user, body).as_slack()}

    def _push(self, user_id: str, body: dict) -> View:
        stack = self.stacks.get(user_id, [])
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= blockkit.MAX_STACK:
            raise SlackError("push_limit_reached")
        view = self._new_view(user_id, body, root=stack[0], previous=stack[-1])
        stack.append(view.id)
        self._touch()
        return view

    def update_view(self, args: dict) -> dict:
        with self.lock:
            view = self._updatable(args.get("view_id"), args.get("external_id"))
            if args.get("hash") and args["hash"] != view.hash:
                raise SlackError("hash_conflict")
            body = self._checked_view(args.get("view"), kind=view.type, replacing=view)
            self._replace(view, body)
            return {"view": view.as_slack()}

    def _updatable(self, view_id: str | None, external_id: str | None) -> View:
        if view_id:
            view = self.views.get(view_id)
        elif external_id:
            view = next(
                (v for v in self.views.values() if v.external_id == external_id and not v.closed),
                None,
            )
        else:
            raise SlackError("invalid_arguments", ["[ERROR] view_id or external_id is required"])
        if view is None or view.closed:
            raise SlackError("not_found")
        return view

    def _replace(self, view: View, body: dict) -> None:
        view.body = body
        view.entered = blockkit.kept_entries(view.blocks, view.entered)
        view.errors = {}
        view.client_error = None
        view.hash = self._new_hash()
        self._touch()

    def publish_home(self, args: dict) -> dict:
        with self.lock:
            user_id = _required(args, "user_id")
            self.user(user_id)
            home_id = self.homes.get(user_id)
            if home_id and args.get("hash") and args["hash"] != self.views[home_id].hash:
                raise SlackError("hash_conflict")
            home = self.views[home_id] if home_id else None
            body = self._checked_view(args.get("view"), kind="home", replacing=home)
            if home_id:
                view = self.views[home_id]
                self._replace(view, body)
            else:
                view = self._new_view(user_id, body, root=None, previous=None)
                self.homes[user_id] = view.id
                self._touch()
            return {"view": view.as_slack()}

    # ---- the person's side of views ----------------------------------------------------------

    def enter(self, surface: View | Message, block_id: str, action_id: str, entry: dict) -> None:
        """Record what a person typed or picked, as Slack's client keeps it until submit."""
        with self.lock:
            live = self._live(surface)
            live.entered.setdefault(block_id, {})[action_id] = copy.deepcopy(entry)
            if isinstance(live, View):
                live.errors.pop(block_id, None)
            self._touch()

    def _live(self, surface: View | Message) -> View | Message:
        if isinstance(surface, View):
            view = self.views.get(surface.id)
            if view is None or view.closed:
                raise ClientRefused(f"view {surface.id} is no longer open")
            return view
        try:
            return self.find_message(surface.channel, surface.ts)
        except SlackError:
            raise ClientRefused(f"message {surface.ts} is no longer in the channel") from None

    def live_copy(self, surface: View | Message) -> View | Message:
        with self.lock:
            return copy.deepcopy(self._live(surface))

    def submittable(self, user_id: str, view_id: str) -> View:
        """The view as the client submits it; IncompleteForm (shown inline) if it would not."""
        with self.lock:
            stack = self.stacks.get(user_id, [])
            if not stack or stack[-1] != view_id:
                raise ClientRefused(f"view {view_id} is not the modal {user_id} sees")
            view = self.views[view_id]
            if not view.body.get("submit"):
                raise ClientRefused("this view has no submit button")
            missing = blockkit.missing_required(view.blocks, view.state_values())
            if missing:
                view.errors = missing
                self._touch()
                raise IncompleteForm(f"Slack's client refuses to submit: {missing}")
            view.errors = {}
            return copy.deepcopy(view)

    def apply_submission(self, user_id: str, view_id: str, response: dict) -> None:
        """Apply the bot's answer to a view_submission to the stack, as Slack does."""
        with self.lock:
            view = self.views[view_id]
            stack = self.stacks.get(user_id, [])
            if view.closed or view_id not in stack:
                return
            action = response.get("response_action")
            if action is None:
                self._pop(user_id)
            elif action == "clear":
                self._clear(user_id)
            elif action == "errors":
                errors = response.get("errors") or {}
                inputs = {b["block_id"] for b in view.blocks if b.get("type") == "input"}
                unknown = sorted(set(errors) - inputs)
                if unknown or not errors:
                    self._client_error(view, f"errors for blocks that are no inputs: {unknown}")
                view.errors = dict(errors)
                self._touch()
            elif action in ("update", "push"):
                try:
                    replacing = view if action == "update" else None
                    body = self._checked_view(
                        response.get("view"), kind="modal", replacing=replacing
                    )
                    if action == "update":
                        self._replace(view, body)
                    else:
                        self._push(user_id, body)
                except SlackError as error:
                    self._client_error(view, str(error))
            else:
                self._client_error(view, f"unknown response_action {action!r}")

    def _client_error(self, view: View, reason: str) -> None:
        view.client_error = "We had some trouble connecting. Try again?"
        self._touch()
        raise ClientRefused(f"Slack would show a generic error: {reason}")

    def _pop(self, user_id: str) -> None:
        stack = self.stacks.get(user_id, [])
        if stack:
            self.views[stack.pop()].closed = True
        self._touch()

    def _clear(self, user_id: str) -> None:
        for view_id in self.stacks.pop(user_id, []):
            self.views[view_id].closed = True
        self._touch()

    def close_view(
        self, user_id: str, view_id: str, *, everything: bool = False
    ) -> tuple[View, bool]:
        """The person closes the top view (or the whole modal); returns it and `is_cleared`."""
        with self.lock:
            stack = self.stacks.get(user_id, [])
            if not stack or stack[-1] != view_id:
                raise ClientRefused(f"view {view_id} is not the modal {user_id} sees")
            view = copy.deepcopy(self.views[view_id])
            cleared = everything or bool(view.body.get("clear_on_close"))
            if cleared:
                self._clear(user_id)
            else:
                self._pop(user_id)
            return view, cleared

    # ---- conversations, users, teams ---------------------------------------------------------

    def channel_info(self, channel_id: str, *, include_num_members: bool) -> dict:
        with self.lock:
            channel = self.channel(channel_id)
            if channel.is_private and self.workspace.bot_user not in channel.members:
                raise SlackError("channel_not_found")
            info: dict[str, Any] = {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_im,
                "is_group": False,
                "is_im": channel.is_im,
                "is_private": channel.is_private,
                "is_archived": False,
                "is_general": False,
                "is_shared": len(channel.shared_team_ids) > 1,
                "is_ext_shared": channel.is_ext_shared,
                "is_org_shared": False,
                "is_pending_ext_shared": False,
                "is_member": self.workspace.bot_user in channel.members,
                "context_team_id": channel.context_team_id,
                "shared_team_ids": list(channel.shared_team_ids),
                "created": 1700000000,
                "creator": "",
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
            if channel.is_im:
                info["user"] = next(m for m in channel.members if m != self.workspace.bot_user)
            if include_num_members:
                info["num_members"] = len(channel.members)
            return info

    def channel_members(self, channel_id: str, cursor: str, limit: int) -> dict:
        with self.lock:
            channel = self.channel(channel_id)
            if channel.is_private and self.workspace.bot_user not in channel.members:
                raise SlackError("channel_not_found")
            start = 0
            if cursor:
                try:
                    start = int(base64.b64decode(cursor).decode().split(":", 1)[1])
                except (ValueError, IndexError):
                    raise SlackError("invalid_cursor") from None
            limit = max(1, min(limit or 100, 1000))
            page = channel.members[start : start + limit]
            rest = start + limit < len(channel.members)
            next_cursor = (
                base64.b64encode(f"offset:{start + limit}".encode()).decode() if rest else ""
            )
            return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def user_info(self, user_id: str, *, include_locale: bool) -> dict:
        with self.lock:
            user = self.user(user_id)
            external = user.team_id != self.workspace.home_team
            info: dict[str, Any] = {
                "id": user.id,
                "team_id": user.team_id,
                "name": user.name,
                "deleted": False,
                "real_name": user.real_name,
                "tz": user.tz,
                "is_admin": user.is_admin and not external,
                "is_owner": False,
                "is_primary_owner": False,
                "is_restricted": user.is_restricted,
                "is_ultra_restricted": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "updated": 1700000000,
                "profile": {
                    "real_name": user.real_name,
                    "display_name": user.name,
                    "team": user.team_id,
                },
            }
            if user.is_bot:
                info["profile"]["bot_id"] = self.workspace.bot_id
            if user.is_stranger:
                info["is_stranger"] = True
            if include_locale and not external:
                info["locale"] = user.locale
            return info

    def team_info(self, team_id: str | None) -> dict:
        with self.lock:
            team = self.workspace.teams.get(team_id or self.workspace.home_team)
            if team is None:
                raise SlackError("team_not_found")
            return {
                "id": team.id,
                "name": team.name,
                "domain": team.domain,
                "email_domain": "",
                "icon": {"image_default": True},
            }

    def usergroup_users(self, group_id: str) -> list[str]:
        with self.lock:
            if group_id not in self.workspace.usergroups:
                raise SlackError("no_such_subteam")
            return list(self.workspace.usergroups[group_id])


def _required(args: dict, name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("invalid_arguments", [f"[ERROR] missing required field: {name}"])
    return value
