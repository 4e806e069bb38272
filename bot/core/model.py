"""The values the use cases and the transports pass each other."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.flow import State


@dataclass(frozen=True)
class Actor:
    """Who acts. `channel_id` is set when the action came from a message in a channel."""

    user_id: str
    team_id: str | None = None
    channel_id: str | None = None


SYSTEM = Actor("system")


@dataclass(frozen=True)
class StepRef:
    """An onboarding and the step counter the acting view was drawn at."""

    onboarding_id: int
    step: int


@dataclass(frozen=True)
class Company:
    """A company as the customer sees and chooses it: the provider's id and GUID, its number
    in the payroll package and its name."""

    id: int
    number: int
    name: str
    guid: str | None = None


@dataclass(frozen=True)
class InviteStatus:
    """What the invite message in the client's channel shows."""

    onboarding_id: int
    client_name: str
    language: str
    channel_id: str
    message_ts: str | None
    state: State
    step_reached: int | None
    companies_linked: int = 0
    completed_by: str | None = None
    handoff_reason: str | None = None
    support_phone: str = ""


@dataclass(frozen=True)
class StartRequest:
    """What the account manager filled in to start an onboarding."""

    client_name: str
    channel_id: str
    language: str
    contact_user_id: str | None = None


class InvalidInput(ValueError):
    """Input a legitimate view cannot produce (e.g. a company the login does not see)."""


def clean_token(value: str) -> str:
    """A pasted token without the spaces and line breaks pasting brings along."""
    return "".join(value.split())
