"""Who may act on a client's onboarding and link: the pure refusal rules."""

from __future__ import annotations

from collections.abc import Callable

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
