"""Who is an account manager, as Slack tells it: a member of our own workspace (not a guest, not
a bot) in the user group ACCOUNT_MANAGER_GROUP names, or any such member when it is `*`. No
group lets nobody in.

`SlackDirectory` reads our identity (once) and people and groups from the Web API; `ManagerGate`
decides from what it says, with the group's members and each person it looked up cached for a
minute, so a busy App Home or a manager's run of /onboard does not call usergroups.users.list
and users.info on every click.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.core.access import EVERY_FULL_MEMBER, REFUSED_UNKNOWN, Person, manager_refusal

logger = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 60.0
PERSON_CACHE_SECONDS = 60.0
PEOPLE_KEPT = 1000  # the people looked up last, at most


class ManagerGate:
    """Checks account managers with the lookups it is given (a SlackDirectory's, or a test's)."""

    def __init__(
        self,
        *,
        home_team: Callable[[], Awaitable[str]],
        lookup_person: Callable[[str], Awaitable[Person]],
        lookup_group: Callable[[str], Awaitable[frozenset[str]]],
        group_id: str,
    ):
        """`group_id`: a user group's id, EVERY_FULL_MEMBER, or empty for nobody."""
        self._home_team = home_team
        self._lookup_person = lookup_person
        self._lookup_group = lookup_group
        self._group_id = group_id
        self._group_cache: tuple[float, frozenset[str]] | None = None
        self._people: OrderedDict[str, tuple[float, Person]] = OrderedDict()

    async def refusal(self, user_id: str) -> str | None:
        """None for an account manager; the reason otherwise (also when Slack cannot say)."""
        try:
            # At once: a slash command's trigger_id lives 3 s, and a rate-limited lookup waits.
            person, home_team, members = await asyncio.gather(
                self._person(user_id), self._home_team(), self._group_members()
            )
        except Exception:
            logger.warning("could not check whether %s is an account manager", user_id)
            return REFUSED_UNKNOWN
        return manager_refusal(
            person,
            home_team=home_team,
            group_members=members,
            every_full_member=self._group_id == EVERY_FULL_MEMBER,
        )

    async def _person(self, user_id: str) -> Person:
        cached = self._people.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < PERSON_CACHE_SECONDS:
            return cached[1]
        person = await self._lookup_person(user_id)
        self._people[user_id] = (time.monotonic(), person)
        self._people.move_to_end(user_id)
        while len(self._people) > PEOPLE_KEPT:
            self._people.popitem(last=False)
        return person

    async def _group_members(self) -> frozenset[str]:
        if self._group_id in ("", EVERY_FULL_MEMBER):
            return frozenset()
        cached = self._group_cache
        if cached is not None and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        members = await self._lookup_group(self._group_id)
        self._group_cache = (time.monotonic(), members)
        return members


class SlackDirectory:
    """Who we are and who someone is, read from the Web API (our identity once)."""

    def __init__(self, client: AsyncWebClient):
        self._client = client
        self._identity: dict[str, Any] | None = None

    async def _auth(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = dict((await self._client.auth_test()).data)  # type: ignore[arg-type]
        return self._identity

    async def home_team(self) -> str:
        return str((await self._auth())["team_id"])

    async def bot_user_id(self) -> str:
        """The bot's own user id (what Slack lists when it revokes the bot's token)."""
        return str((await self._auth()).get("user_id") or "")

    async def bot_name(self) -> str:
        return str((await self._auth()).get("user") or "onboarding")

    async def person(self, user_id: str) -> Person:
        user = (await self._client.users_info(user=user_id))["user"]
        return Person(
            user_id=user_id,
            workspace_id=user.get("team_id"),
            is_bot=bool(user.get("is_bot")),
            is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            deleted=bool(user.get("deleted")),
        )

    async def group_members(self, group_id: str) -> frozenset[str]:
        answer = await self._client.usergroups_users_list(usergroup=group_id)
        return frozenset(answer.get("users") or [])

    def gate(self, group_id: str) -> ManagerGate:
        """The account manager check with this directory's lookups."""
        return ManagerGate(
            home_team=self.home_team,
            lookup_person=self.person,
            lookup_group=self.group_members,
            group_id=group_id,
        )
