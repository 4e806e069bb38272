"""Who may act on a client's onboarding and link, and who may use the account manager's tools:
the pure refusal rules (the transports look the facts up)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.model import Actor

# Why a customer's action is refused.
WRONG_CHANNEL = "wrong_channel"
NOT_A_MEMBER = "not_a_member"
OTHER_ORGANISATION = "other_organisation"


@dataclass(frozen=True)
class ClientPlace:
    """Where a client meets us in the chat tool: its own workspace (the organisation the invite
    was for) and the conversation shared with it."""

    workspace_id: str
    conversation_id: str


def customer_refusal(
    actor: Actor,
    client: ClientPlace,
    is_member: Callable[[str, str], bool],
    *,
    account_manager: str | None = None,
) -> str | None:
    """Why `actor` may not act on the onboarding and link of `client`, or None when they may.

    Refused: a click from another channel; a person of another organisation than the client's
    (our own staff, or a third organisation in a channel shared with several), the chat tool
    saying which workspace the person belongs to (an unknown one is refused too); a person not
    in the client's channel. `account_manager` (who started the onboarding, given for stopping
    it) passes the organisation check. `is_member` is asked last, only when all else passes."""
    if actor.channel_id is not None and actor.channel_id != client.conversation_id:
        return WRONG_CHANNEL
    if actor.team_id != client.workspace_id and actor.user_id != account_manager:
        return OTHER_ORGANISATION
    if not is_member(client.conversation_id, actor.user_id):
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
