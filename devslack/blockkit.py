"""Block Kit as Slack checks and keeps it: the limits it enforces and the input state of a surface.

Problems are reported as Slack reports them in `response_metadata.messages`:
``[ERROR] must be less than 25 characters [json-pointer:/view/title/text]``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

MODAL_BLOCKS = 100
HOME_BLOCKS = 100
MESSAGE_BLOCKS = 50
MAX_STACK = 3

SELECT_TYPES = {
    "static_select": "selected_option",
    "external_select": "selected_option",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "multi_static_select": "selected_options",
    "multi_external_select": "selected_options",
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
}
INITIAL_FIELDS = {
    "selected_option": "initial_option",
    "selected_options": "initial_options",
    "selected_user": "initial_user",
    "selected_users": "initial_users",
    "selected_conversation": "initial_conversation",
    "selected_conversations": "initial_conversations",
    "selected_channel": "initial_channel",
    "selected_channels": "initial_channels",
    "selected_date": "initial_date",
    "selected_time": "initial_time",
    "value": "initial_value",
}
# The field of a state value (and of a block_actions action) for each stateful element type.
VALUE_FIELD = {
    **SELECT_TYPES,
    "checkboxes": "selected_options",
    "radio_buttons": "selected_option",
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}
PLURAL_FIELDS = {
    "selected_options",
    "selected_users",
    "selected_conversations",
    "selected_channels",
}
INPUT_ELEMENTS = set(VALUE_FIELD)
ACTION_ELEMENTS = INPUT_ELEMENTS | {"button", "overflow"}
TEXT_INPUTS = {"plain_text_input", "number_input", "email_text_input", "url_text_input"}
BLOCK_TYPES = {"section", "divider", "header", "context", "actions", "input", "image", "rich_text"}


class _Checker:
    """Walks a surface and collects Slack-style problems with JSON pointers."""

    def __init__(self, root: str):
        self.root = root
        self.problems: list[str] = []

    def error(self, pointer: str, message: str) -> None:
        self.problems.append(f"[ERROR] {message} [json-pointer:{self.root}{pointer}]")

    def text(self, obj: Any, ptr: str, limit: int, *, plain: bool = False) -> None:
        if not isinstance(obj, dict) or "text" not in obj or "type" not in obj:
            self.error(ptr, "must be a text object with type and text")
            return
        if obj["type"] not in ("plain_text", "mrkdwn"):
            self.error(f"{ptr}/type", "must be one of plain_text, mrkdwn")
        elif plain and obj["type"] != "plain_text":
            self.error(f"{ptr}/type", "must be plain_text")
        text = obj["text"]
        if not isinstance(text, str) or not text:
            self.error(f"{ptr}/text", "must be more than 0 characters")
        elif len(text) > limit:
            self.error(f"{ptr}/text", f"must be less than {limit + 1} characters")

    def length(self, value: Any, ptr: str, limit: int) -> None:
        if value is not None and isinstance(value, str) and len(value) > limit:
            self.error(ptr, f"must be less than {limit + 1} characters")

    def count(self, items: Any, ptr: str, most: int, least: int = 1) -> bool:
        if not isinstance(items, list):
            self.error(ptr, "must be an array")
            return False
        if len(items) > most:
            self.error(ptr, f"no more than {most} items allowed")
        if len(items) < least:
            self.error(ptr, f"must provide at least {least} items")
        return True

    def required(self, obj: dict, name: str, ptr: str) -> bool:
        if obj.get(name) in (None, ""):
            self.error(ptr, f"missing required field: {name}")
            return False
        return True

    def option(self, option: Any, ptr: str) -> None:
        if not isinstance(option, dict):
            self.error(ptr, "must be an option object")
            return
        self.text(option.get("text"), f"{ptr}/text", 75)
        if self.required(option, "value", ptr):
            self.length(option["value"], f"{ptr}/value", 150)
        if "description" in option:
            self.text(option["description"], f"{ptr}/description", 75)

    def confirm(self, confirm: Any, ptr: str) -> None:
        if not isinstance(confirm, dict):
            self.error(ptr, "must be a confirmation dialog object")
            return
        self.text(confirm.get("title"), f"{ptr}/title", 100, plain=True)
        self.text(confirm.get("text"), f"{ptr}/text", 300)
        self.text(confirm.get("confirm"), f"{ptr}/confirm", 30, plain=True)
        self.text(confirm.get("deny"), f"{ptr}/deny", 30, plain=True)

    def options(self, element: dict, ptr: str, most: int) -> list[dict]:
        """Checks options or option_groups; returns every option offered."""
        if "option_groups" in element:
            offered = []
            groups = element["option_groups"]
            if self.count(groups, f"{ptr}/option_groups", 100):
                for g, group in enumerate(groups):
                    self.text(group.get("label"), f"{ptr}/option_groups/{g}/label", 75, plain=True)
                    group_options = group.get("options", [])
                    if self.count(group_options, f"{ptr}/option_groups/{g}/options", most):
                        for o, option in enumerate(group_options):
                            self.option(option, f"{ptr}/option_groups/{g}/options/{o}")
                            offered.append(option)
            return offered
        if "options" not in element:
            self.error(ptr, "missing required field: options")
            return []
        element_options = element["options"]
        if not self.count(element_options, f"{ptr}/options", most):
            return []
        for o, option in enumerate(element_options):
            self.option(option, f"{ptr}/options/{o}")
        return element_options

    def initial_among(self, element: dict, offered: list[dict], ptr: str) -> None:
        values = {option.get("value") for option in offered}
        chosen = element.get("initial_options") or []
        if element.get("initial_option"):
            chosen = [element["initial_option"]]
        for option in chosen:
            if isinstance(option, dict) and option.get("value") not in values:
                self.error(ptr, "initial option must exactly match one of the options")

    def element(self, element: Any, ptr: str, allowed: set[str], *, in_input: bool) -> None:
        if not isinstance(element, dict) or element.get("type") not in allowed:
            kind = element.get("type") if isinstance(element, dict) else element
            self.error(ptr, f"element type {kind!r} is not allowed here")
            return
        kind = element["type"]
        if in_input:
            self.required(element, "action_id", ptr)
        self.length(element.get("action_id"), f"{ptr}/action_id", 255)
        if "placeholder" in element:
            self.text(element["placeholder"], f"{ptr}/placeholder", 150, plain=True)
        if "confirm" in element:
            self.confirm(element["confirm"], f"{ptr}/confirm")
        if kind == "button":
            self.text(element.get("text"), f"{ptr}/text", 75, plain=True)
            self.length(element.get("value"), f"{ptr}/value", 2000)
            self.length(element.get("url"), f"{ptr}/url", 3000)
            if element.get("style") not in (None, "primary", "danger"):
                self.error(f"{ptr}/style", "must be one of primary, danger")
        elif kind in ("checkboxes", "radio_buttons"):
            self.initial_among(element, self.options(element, ptr, 10), ptr)
        elif kind == "overflow":
            self.options(element, ptr, 5)
        elif kind in ("static_select", "multi_static_select"):
            self.initial_among(element, self.options(element, ptr, 100), ptr)
        elif kind in ("external_select", "multi_external_select"):
            if not isinstance(element.get("min_query_length", 0), int):
                self.error(f"{ptr}/min_query_length", "must be an integer")
        elif kind == "plain_text_input":
            self.length(element.get("initial_value"), f"{ptr}/initial_value", 3000)
            for bound in ("min_length", "max_length"):
                value = element.get(bound)
                if value is not None and not (0 <= value <= 3000):
                    self.error(f"{ptr}/{bound}", "must be between 0 and 3000")
        if kind.startswith("multi_") and element.get("max_selected_items", 1) < 1:
            self.error(f"{ptr}/max_selected_items", "must be at least 1")

    def block(self, block: Any, ptr: str) -> None:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            self.error(ptr, "failed to match all allowed schemas")
            return
        self.length(block.get("block_id"), f"{ptr}/block_id", 255)
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.error(ptr, "must provide either text or fields")
            if "text" in block:
                self.text(block["text"], f"{ptr}/text", 3000)
            if "fields" in block and self.count(block["fields"], f"{ptr}/fields", 10):
                for f, field in enumerate(block["fields"]):
                    self.text(field, f"{ptr}/fields/{f}", 2000)
            if "accessory" in block:
                accessory = block["accessory"]
                if isinstance(accessory, dict) and accessory.get("type") == "image":
                    return
                self.element(accessory, f"{ptr}/accessory", ACTION_ELEMENTS, in_input=False)
        elif kind == "header":
            self.text(block.get("text"), f"{ptr}/text", 150, plain=True)
        elif kind == "context":
            elements = block.get("elements")
            if self.count(elements, f"{ptr}/elements", 10):
                for e, element in enumerate(elements):
                    if isinstance(element, dict) and element.get("type") == "image":
                        continue
                    self.text(element, f"{ptr}/elements/{e}", 3000)
        elif kind == "actions":
            elements = block.get("elements")
            if self.count(elements, f"{ptr}/elements", 25):
                for e, element in enumerate(elements):
                    self.element(element, f"{ptr}/elements/{e}", ACTION_ELEMENTS, in_input=False)
        elif kind == "input":
            self.text(block.get("label"), f"{ptr}/label", 2000, plain=True)
            if "hint" in block:
                self.text(block["hint"], f"{ptr}/hint", 2000, plain=True)
            if self.required(block, "element", ptr):
                self.element(block["element"], f"{ptr}/element", INPUT_ELEMENTS, in_input=True)

    def blocks(self, blocks: Any, ptr: str, most: int) -> None:
        if not self.count(blocks, ptr, most, least=0):
            return
        seen: set[str] = set()
        for b, block in enumerate(blocks):
            self.block(block, f"{ptr}/{b}")
            block_id = block.get("block_id") if isinstance(block, dict) else None
            if block_id:
                if block_id in seen:
                    self.error(f"{ptr}/{b}/block_id", f"duplicate block_id: {block_id}")
                seen.add(block_id)


def view_problems(view: Any) -> list[str]:
    """What Slack would reject in a modal or App Home view, as response_metadata messages."""
    check = _Checker("/view")
    if not isinstance(view, dict):
        check.error("", "must be a view object")
        return check.problems
    kind = view.get("type")
    if kind not in ("modal", "home"):
        check.error("/type", "must be one of modal, home")
        return check.problems
    if kind == "modal":
        check.text(view.get("title"), "/title", 24, plain=True)
        for button in ("submit", "close"):
            if button in view:
                check.text(view[button], f"/{button}", 24, plain=True)
        has_input = any(
            isinstance(block, dict) and block.get("type") == "input"
            for block in view.get("blocks") or []
        )
        if has_input and "submit" not in view:
            check.error("", "must provide a submit property when using input blocks")
    check.blocks(view.get("blocks"), "/blocks", MODAL_BLOCKS if kind == "modal" else HOME_BLOCKS)
    check.length(view.get("private_metadata"), "/private_metadata", 3000)
    check.length(view.get("callback_id"), "/callback_id", 255)
    check.length(view.get("external_id"), "/external_id", 255)
    return check.problems


def message_problems(blocks: Any) -> list[str]:
    """What Slack would reject in a message's blocks."""
    check = _Checker("/blocks")
    check.blocks(blocks, "", MESSAGE_BLOCKS)
    return check.problems


def _generated_id() -> str:
    return secrets.token_urlsafe(4).replace("-", "x").replace("_", "y")


def with_generated_ids(blocks: list[dict]) -> list[dict]:
    """Slack stores a block_id (and action_id) for every block (element) that lacks one."""
    stored = []
    for block in blocks:
        block = dict(block)
        block.setdefault("block_id", _generated_id())
        for key in ("element", "accessory"):
            if isinstance(block.get(key), dict) and block[key].get("type") != "image":
                block[key] = {"action_id": _generated_id(), **block[key]}
        if block.get("type") == "actions":
            block["elements"] = [
                {"action_id": _generated_id(), **element} for element in block.get("elements", [])
            ]
        stored.append(block)
    return stored


def interactive_elements(blocks: list[dict]) -> Iterator[tuple[dict, dict]]:
    """Every (block, element) pair a person can act on, in display order."""
    for block in blocks:
        if block.get("type") == "input":
            yield block, block["element"]
        elif block.get("type") == "actions":
            for element in block.get("elements", []):
                yield block, element
        elif block.get("type") == "section" and _actionable(block.get("accessory")):
            yield block, block["accessory"]


def _actionable(accessory: Any) -> bool:
    return isinstance(accessory, dict) and accessory.get("type") != "image"


def initial_state(element: dict) -> dict:
    """The state value of an element before anyone touched it."""
    kind = element["type"]
    field = VALUE_FIELD[kind]
    initial = element.get(INITIAL_FIELDS[field])
    if initial is None and field in PLURAL_FIELDS:
        initial = []
    return {"type": kind, field: initial}


def state_of(blocks: list[dict], entered: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """`state.values` of a surface: what was entered, else the initial values of its inputs."""
    values: dict[str, dict[str, dict]] = {}
    for block, element in interactive_elements(blocks):
        if element.get("type") not in VALUE_FIELD:
            continue
        block_id, action_id = block["block_id"], element["action_id"]
        typed = entered.get(block_id, {}).get(action_id)
        if typed is not None and typed.get("type") == element["type"]:
            values.setdefault(block_id, {})[action_id] = typed
        elif block.get("type") == "input":
            values.setdefault(block_id, {})[action_id] = initial_state(element)
    return values


def kept_entries(blocks: list[dict], entered: dict[str, dict[str, dict]]) -> dict:
    """What survives an update: entries whose block_id, action_id and element type remain."""
    kept: dict[str, dict[str, dict]] = {}
    for block, element in interactive_elements(blocks):
        typed = entered.get(block["block_id"], {}).get(element["action_id"])
        if typed is not None and typed.get("type") == element.get("type"):
            kept.setdefault(block["block_id"], {})[element["action_id"]] = typed
    return kept


def offered_options(element: dict) -> list[dict]:
    if "option_groups" in element:
        return [option for group in element["option_groups"] for option in group["options"]]
    return list(element.get("options", []))


def missing_required(blocks: list[dict], values: dict[str, dict[str, dict]]) -> dict[str, str]:
    """What Slack's client refuses to submit: empty required inputs and text of the wrong length."""
    problems: dict[str, str] = {}
    for block in blocks:
        if block.get("type") != "input":
            continue
        element = block["element"]
        entry = values.get(block["block_id"], {}).get(element["action_id"], {})
        value = entry.get(VALUE_FIELD.get(element["type"], "value"))
        empty = value in (None, "", [])
        if empty and not block.get("optional", False):
            problems[block["block_id"]] = "Please fill out this field."
        elif not empty and element["type"] == "plain_text_input":
            if len(value) < element.get("min_length", 0):
                problems[block["block_id"]] = (
                    f"Please enter at least {element['min_length']} characters."
                )
            elif len(value) > element.get("max_length", 3000):
                problems[block["block_id"]] = (
                    f"Please enter no more than {element.get('max_length', 3000)} characters."
                )
    return problems
