"""The values the use cases and the transports pass each other."""

from __future__ import annotations

import re
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
    """A company as the customer sees and chooses it: the provider's ref (`ProviderCompany.ref`:
    the SOAP int id as digits, the REST companyId) and GUID, its number in the payroll package
    and its name."""

    id: str
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
    # Who started it (the account manager) and the contact it is for, as chat user ids.
    started_by: str | None = None
    contact_user_id: str | None = None
    # What waits for the customer (bot.core.invite: "permissions", "consent", "companies"),
    # and how many things (rights off, data to approve).
    waiting: str | None = None
    waiting_count: int = 0
    # Set on an older copy of the invite (bot.core.invite: "resent", "replaced").
    superseded: str | None = None
    # A handoff the customer can undo by choosing another package (bot.core.flow).
    can_choose_again: bool = False


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


# An Nmbrs API token is 32 hexadecimal digits (some tools show it as a dashed GUID); other
# secrets pasted by mistake are long runs of random base64 characters. A username is an e-mail
# address or a name: it has an '@', or words broken by spaces, dots or dashes, far shorter
# than these runs.
_HEX_RUN = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{40,}")
_DIGITS = re.compile(r"[0-9]+")


def looks_like_token(value: str) -> bool:
    """True when what was typed as a username can only be a pasted token or secret: no '@'
    and a run of 32 hex digits (spaces and line breaks that pasting brings left out), or an
    unbroken run of at least 40 base64 characters with digits strewn among its letters."""
    if "@" in value:
        return False
    if _HEX_RUN.search(clean_token(value)):
        return True
    return any(_random_looking(run.group()) for run in _BASE64_RUN.finditer(value))


def _random_looking(run: str) -> bool:
    """Letters with digits strewn among them (a name or a word ends in a number, at most)."""
    return any(char.isalpha() for char in run) and len(_DIGITS.findall(run)) >= 3
