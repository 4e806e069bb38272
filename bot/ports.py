"""The ports the use cases depend on, owned by the core side: adapters (the Slack transport,
storage, the clock) implement them, the composition root (`bot.bootstrap`) plugs them in.

The payroll provider's port is `bot.core.payroll.PayrollProvider` (pure, beside the core); the
clock is `bot.clock.Clock` (the outbox and the scheduler below the use cases need it too).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from bot.core.events import LinkEvent
from bot.core.model import InviteStatus
from bot.core.notices import Notice


class UnitOfWork(Protocol):
    """One transaction: leaving the block without `commit()` (or with an exception) rolls
    everything back. `StaleUpdate` (from commit, flush or the end of the block) means another
    transaction changed the same onboarding first."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def flush(self) -> None: ...

    def commit(self) -> None: ...


# --- the chat tool ------------------------------------------------------------------------


class Membership(Protocol):
    """Who is in a client's channel. Blocking; implementations cache briefly."""

    def is_member(self, channel_id: str, user_id: str) -> bool: ...


class MembershipUnknown(Exception):
    """Channel membership could not be read (the chat tool unreachable or refusing)."""


@dataclass(frozen=True)
class ChannelInfo:
    """What the chat tool says about the channel chosen for an invite."""

    found: bool
    bot_is_member: bool
    externally_shared: bool
    # The customer's workspace in a shared channel (None when not shared).
    external_team_id: str | None = None


class InviteFailed(Exception):
    """The chat tool refused the invite message; `code` is its error."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(f"the invite could not be posted: {code}")


class InviteChannel(Protocol):
    """The transport's side of posting invites: read the channel, post (or update) the invite
    message, tell the contact in a direct message."""

    async def channel(self, channel_id: str) -> ChannelInfo: ...

    async def post_invite(self, status: InviteStatus) -> InviteStatus:
        """Post the invite message; InviteFailed when the chat tool refuses."""
        ...

    async def send_dm(self, user_id: str, status: InviteStatus) -> str | None:
        """Tell the contact in a direct message; the chat tool's error code when that fails."""
        ...


class LinkNotices(Protocol):
    """The notices a link event causes (status channel, client's channel, the manager)."""

    def notices_for(self, event: LinkEvent) -> list[Notice]: ...
