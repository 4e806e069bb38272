"""Who is in a client's channel, read with conversations.members and cached briefly.

Used from worker threads (the use cases are blocking), hence the synchronous WebClient. The
cache keeps each channel's members for `ttl` seconds: a Start click and the steps after it cost
one Web API call, and someone removed from the channel loses access within that time. Past
MAX_CHANNELS_KEPT channels, the expired ones are forgotten.

A step answered within its ack (`from_cache_only()`, bot.transports.slack.answers) makes no Web
API call before the ack: it takes what the cache has seen within `recent` seconds (the Start
click or the step before it, minutes ago at most), and raises NotCached otherwise, so the
listener acks with a working view and runs the step after the ack. Those steps change nothing
at Nmbrs (accepting the terms, reading the preparation, confirming the over-access), and
someone removed from the channel loses them within `recent` seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.ports import MembershipUnknown

DEFAULT_TTL_SECONDS = 30.0
RECENT_SECONDS = 300.0
PAGE_SIZE = 1000
MAX_CHANNELS_KEPT = 1000

cache_only: contextvars.ContextVar[bool] = contextvars.ContextVar("cache_only", default=False)


class NotCached(Exception):
    """Membership is not known without asking Slack, which a step answered in its ack may
    not do."""


@contextlib.contextmanager
def from_cache_only() -> Iterator[None]:
    """Membership checks in this context (and in the threads it starts with its context) take
    recent cached answers only, or raise NotCached."""
    token = cache_only.set(True)
    try:
        yield
    finally:
        cache_only.reset(token)


class SlackChannelMembership:
    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        recent: float = RECENT_SECONDS,
        page_size: int = PAGE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._ttl = ttl
        self._recent = recent
        self._page_size = page_size
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def is_member(self, channel_id: str, user_id: str) -> bool:
        if cache_only.get():
            return self._recently_member(channel_id, user_id)
        return user_id in self._channel_members(channel_id)

    def _recently_member(self, channel_id: str, user_id: str) -> bool:
        """True when the cache saw `user_id` in the channel within `recent` seconds; else
        NotCached (a refusal, or someone added since, is for Slack to answer)."""
        with self._lock:
            cached = self._members.get(channel_id)
        recent = cached is not None and self._monotonic() - cached[0] < self._recent
        if recent and cached is not None and user_id in cached[1]:
            return True
        raise NotCached(channel_id)

    def _channel_members(self, channel_id: str) -> frozenset[str]:
        now = self._monotonic()
        with self._lock:
            cached = self._members.get(channel_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        members = self._fetch(channel_id)
        with self._lock:
            if channel_id not in self._members and len(self._members) >= MAX_CHANNELS_KEPT:
                expired = [c for c, (at, _) in self._members.items() if now - at >= self._ttl]
                for channel in expired:
                    del self._members[channel]
            self._members[channel_id] = (now, members)
        return members

    @property
    def channels_kept(self) -> int:
        with self._lock:
            return len(self._members)

    def _fetch(self, channel_id: str) -> frozenset[str]:
        members: set[str] = set()
        cursor = ""
        try:
            while True:
                response = self._client.conversations_members(
                    channel=channel_id, cursor=cursor or None, limit=self._page_size
                )
                members.update(response.get("members", []))
                cursor = (response.get("response_metadata") or {}).get("next_cursor", "")
                if not cursor:
                    return frozenset(members)
        except SlackApiError as error:
            if error.response.get("error") == "channel_not_found":
                return frozenset()
            raise MembershipUnknown(
                f"conversations.members: {error.response.get('error')}"
            ) from None
        except SlackClientError as error:
            raise MembershipUnknown(f"conversations.members: {type(error).__name__}") from None
