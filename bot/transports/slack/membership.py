"""Who is in a client's channel, read with conversations.members and cached briefly.

Used from worker threads (the use cases are blocking), hence the synchronous WebClient. The
cache keeps each channel's members for `ttl` seconds: a Start click and the steps after it cost
one Web API call, and someone removed from the channel loses access within that time. Past
MAX_CHANNELS_KEPT channels, the expired ones are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.ports import MembershipUnknown

DEFAULT_TTL_SECONDS = 30.0
PAGE_SIZE = 1000
MAX_CHANNELS_KEPT = 1000


class SlackChannelMembership:
    def __init__(
        self,
        client: WebClient,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        page_size: int = PAGE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._ttl = ttl
        self._page_size = page_size
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def is_member(self, channel_id: str, user_id: str) -> bool:
        return user_id in self._channel_members(channel_id)

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
