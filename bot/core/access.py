"""Who may act on a client's onboarding and link, and who may use the account manager's tools:
the pure refusal rules (the transports look the facts up)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.model import Actor

# Why a customer's action is refused.
WRONG_CHANNEL = "wrong_channel"
NOT_A_MEMBER = "not_a_member"


def channel_refusal(
    actor: Actor, client_channel: str, is_member: Callable[[str, str], bool]
) -> str | None:
    """Why `actor` may not act on the client of `client_channel` (a click from another channel,
    or a person not in the client's channel), or None when they may. `is_member` is asked only
    when the channel matches."""
    if actor.channel_id is not None and actor.channel_id != client_channel:
        return WRONG_CHANNEL
    if not is_member(client_channel, actor.user_id):
        return NOT_A_MEMBER
    return None


# Why someone may not use the account manager's tools.
REFUSED_EXTERNAL = "external"
REFUSED_NOT_A_MEMBER = "not_a_member"
REFUSED_NOT_IN_GROUP = "not_in_group"
REFUSED_UNKNOWN = "unknown"

# ACCOUNT_MANAGER_GROUP's value that makes every full member of our workspace an account manager:
# chosen explicitly, never what an unset group means (that is nobody).
EVERY_FULL_MEMBER = "*"


@dataclass(frozen=True)
class Person:
    """What the chat tool says about a person (Slack: users.info)."""

    user_id: str
    workspace_id: str | None
    is_bot: bool = False
    is_guest: bool = False
    deleted: bool = False


def manager_refusal(
    person: Person,
    *,
    home_team: str,
    group_members: frozenset[str],
    every_full_member: bool = False,
) -> str | None:
    """None when `person` may use the account manager's tools, else why not: a full member of
    our workspace who is in the account managers' group, or any full member when
    `every_full_member` was chosen. An empty group lets nobody in."""
    if person.workspace_id != home_team:
        return REFUSED_EXTERNAL
    if person.is_bot or person.is_guest or person.deleted:
        return REFUSED_NOT_A_MEMBER
    if not every_full_member and person.user_id not in group_members:
        return REFUSED_NOT_IN_GROUP
    return None
