"""The handle tests and the demo hold on a running fake Slack: its URLs, the bot's side (the
connection to its Request URL, what it called, faults to inject) and the people who act in it."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

from devslack.driver import BotEndpoint, Delivery, SlackUser
from devslack.workspace import VERIFICATION_TOKEN, Workspace
from devslack.world import Call, Fault, Message, World

T = TypeVar("T")


class DevSlack:
    """A running fake Slack: its URLs, what the bot called, faults to inject, and its people."""

    def __init__(
        self,
        world: World,
        *,
        signing_secret: str,
        verification_token: str = VERIFICATION_TOKEN,
        ack_timeout: float = 3.0,
    ):
        self.world = world
        self.url = ""
        self.signing_secret = signing_secret
        self.verification_token = verification_token
        self.ack_timeout = ack_timeout
        self._endpoint: BotEndpoint | None = None
        self._users: dict[str, SlackUser] = {}

    @property
    def api_url(self) -> str:
        """The Web API base URL to give the bot as SLACK_API_URL."""
        return f"{self.url}/api/"

    @property
    def connected(self) -> bool:
        return self._endpoint is not None

    @property
    def bot_token(self) -> str:
        return self.world.bot_token

    @property
    def workspace(self) -> Workspace:
        return self.world.workspace

    # ---- the bot's side ----------------------------------------------------------------------

    def connect(self, events_url: str) -> None:
        """Point Slack at the bot's Request URL (…/slack/events)."""
        if self._endpoint:
            self._endpoint.close()
        self._endpoint = BotEndpoint(events_url, self.signing_secret, self.ack_timeout)

    @property
    def endpoint(self) -> BotEndpoint:
        if self._endpoint is None:
            raise RuntimeError("fake Slack is not connected to a bot: call connect(events_url)")
        return self._endpoint

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request sent to the bot, with its acknowledgement time."""
        return list(self.endpoint.deliveries)

    def replay(self, delivery: Delivery, *, retry_num: int = 1) -> Delivery:
        """Resend a request as Slack's retry (`X-Slack-Retry-Num`)."""
        return self.endpoint.replay(delivery, retry_num=retry_num)

    def send_event(self, event: dict, *, team_id: str | None = None) -> Delivery:
        """Deliver an Events API event (wrapped in its event_callback envelope), for the bot's
        team or the one given."""
        bot = self.workspace
        envelope = {
            "token": self.verification_token,
            "team_id": team_id or bot.home_team,
            "api_app_id": bot.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": bot.home_team,
                    "user_id": bot.bot_user,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return self.endpoint.send(
            "event_callback", json.dumps(envelope).encode(), "application/json"
        )

    def calls(self, method: str | None = None) -> list[Call]:
        """Web API calls the bot made, in order (only `method` when given)."""
        with self.world.lock:
            return [call for call in self.world.calls if method in (None, call.method)]

    def fail(
        self,
        method: str,
        *,
        status: int = 500,
        retry_after: int | None = None,
        error: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail (None: until further notice).
        status=429 answers `ratelimited` with Retry-After; 5xx a server error; with `error`
        (and status 200) an `{"ok": false, "error": error}` answer."""
        code = 200 if error and status == 500 else status
        self.world.add_fault(Fault(method, code, error, retry_after, 0.0, times))

    def slow(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        """Delay the next `times` calls of `method` (to provoke client timeouts)."""
        self.world.add_fault(Fault(method, delay=seconds, remaining=times))

    def clear_faults(self) -> None:
        with self.world.lock:
            self.world.faults.clear()

    def advance(self, seconds: float) -> None:
        """Move Slack's clock forward (expire trigger_ids without sleeping)."""
        self.world.advance(seconds)

    # ---- the people's side -------------------------------------------------------------------

    def user(self, user_id: str) -> SlackUser:
        if user_id not in self._users:
            self._users[user_id] = SlackUser(self, user_id)
        return self._users[user_id]

    def messages(self, channel: str) -> list[Message]:
        """The channel's timeline as every member sees it (no ephemeral messages)."""
        return self.world.visible_messages(channel)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy, re-checked after every change in the fake."""
        return self.world.wait_until(predicate, timeout)

    def close(self) -> None:
        """Release the bot connection and end the page's long polls (before the server stops)."""
        self.world.closing = True
        if self._endpoint:
            self._endpoint.close()
