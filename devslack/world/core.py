"""The fake Slack's common ground: one lock and its change counter, Slack's clock, the calls the
bot made and the faults to inject, and the error answers of the Web API.

Every mutation of the world happens under `lock` and ends in `_touch()`, which wakes whoever waits
for a change (`wait_until`, the browser's long poll).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from devslack.workspace import Workspace

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


class WorldCore:
    """The lock, the clock, the calls and the faults that every part of the world shares."""

    def __init__(self, workspace: Workspace, *, bot_token: str):
        self.workspace = workspace
        self.bot_token = bot_token
        self.public_url = ""
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.version = 0
        self.closing = False
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
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


def required(args: dict, name: str) -> Any:
    """A Web API argument the method cannot do without (`invalid_arguments` when missing)."""
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("invalid_arguments", [f"[ERROR] missing required field: {name}"])
    return value
