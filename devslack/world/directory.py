"""Who and where, as the Web API answers about them: people, channels, teams and user groups."""

from __future__ import annotations

import base64
from typing import Any

from devslack.workspace import Channel, User
from devslack.world.core import SlackError, WorldCore


class WorldDirectory(WorldCore):
    """The workspace's people and places, and the bot's direct-message channels with people."""

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
