"""Views: each person's modal stack and App Home, the trigger_ids that open modals, and what a
person enters and submits, with the bot's answers applied to the stack as Slack applies them."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from devslack import blockkit
from devslack.workspace import Workspace
from devslack.world.core import ClientRefused, IncompleteForm, SlackError, required
from devslack.world.messages import Message, WorldMessages


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


class WorldViews(WorldMessages):
    """Modal stacks and App Homes on top of the timelines (people enter values into both)."""

    def __init__(self, workspace: Workspace, *, bot_token: str, trigger_lifetime: float = 3.0):
        super().__init__(workspace, bot_token=bot_token)
        self.trigger_lifetime = trigger_lifetime
        self.views: dict[str, View] = {}
        self.stacks: dict[str, list[str]] = {}
        self.homes: dict[str, str] = {}
        self.triggers: dict[str, Trigger] = {}

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
            user_id = required(args, "user_id")
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
