"""What to tell someone, before any chat tool draws it.

A `Notice` is what the reports and the use cases put in the outbox: its `kind` (what the
transport draws: "report.<event>", "digest", "nudge", "invite_update", "link_notice", ...),
who gets it, JSON-safe `values` to draw it from, and the language. A notice is a new message,
or, when `updates` holds the reference of an earlier message, that message redrawn in place.

A notice can also name an earlier notice by its `dedupe_key` before that one was sent (its
message reference is not known yet): `updates_of` redraws that notice's message, `thread_of`
replies in its thread. The outbox fills in `updates` and `thread` when it sends (bot.outbox),
after the earlier notice went out. `broadcast` asks for a reply that is also shown at the top
level, for what needs a person.

`as_values` and `from_values` carry the dataclasses a notice is drawn from (events, invite
statuses, summaries) through the JSON of an outbox row and back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Notice:
    """One message to someone, as a kind and the values to draw it from."""

    kind: str
    recipient: str
    language: str
    values: Mapping[str, Any] = field(default_factory=dict)
    # Set when a notice must exist at most once (a nudge for one period, say).
    dedupe_key: str | None = None
    # The transport's reference of an earlier message this notice redraws in place.
    updates: str | None = None
    # The dedupe_key of an earlier notice whose message this one redraws, or replies under.
    updates_of: str | None = None
    thread_of: str | None = None
    # The transport's reference of the message this notice replies under (a thread's parent).
    thread: str | None = None
    # A reply that is also shown at the top level (it needs a person).
    broadcast: bool = False


def as_values(instance: Any) -> dict[str, Any]:
    """A dataclass instance as JSON-safe values (moments and dates as ISO 8601)."""
    return {f.name: _json_safe(getattr(instance, f.name)) for f in dataclasses.fields(instance)}


def from_values(cls: type[T], values: Mapping[str, Any]) -> T:
    """The dataclass instance `as_values` made `values` of."""
    hints = typing.get_type_hints(cls)
    arguments = {
        f.name: _typed(hints[f.name], values[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and f.name in values
    }
    return cls(**arguments)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    return value


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        [hint] = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        origin = typing.get_origin(hint)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if origin is tuple:
        return tuple(value)
    return value
