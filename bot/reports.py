"""What the overviews and reports know of an onboarding, whatever chat tool shows them.

`OnboardingSummary` is one onboarding as the status list, the App Home and the digest show it.
`StatusReports` is what the use cases need of the reports (one per meaningful event, the daily
digest, the nudges); the chat transport writes them (Slack: `bot.transports.slack.views.reports`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlmodel import Session

from bot.core.events import OnboardingEvent
from bot.core.flow import END_STATES, State, step_reached
from bot.outbox import Message
from bot.schedule import ReminderPolicy
from storage.models import Client, Onboarding

# Events that are progress, not news: the next real event (or the digest) covers them.
UNREPORTED_KINDS = frozenset({"credentials_verified"})


class HasSession(Protocol):
    session: Session


@dataclass(frozen=True)
class OnboardingSummary:
    """One onboarding as the overviews show it (status list, App Home, digest)."""

    onboarding_id: int
    client_id: int
    client_name: str
    channel_id: str
    contact_user_id: str | None
    language: str
    state: str
    step: int | None
    created_at: datetime
    last_activity_at: datetime
    last_progress_at: datetime
    idle_working_days: int
    stalled: bool
    blocked_until: datetime | None
    expires_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state not in END_STATES


def summarise(
    onboarding: Onboarding, client: Client, *, now: datetime, policy: ReminderPolicy
) -> OnboardingSummary:
    assert onboarding.id is not None and client.id is not None
    is_open = State(onboarding.state) not in END_STATES
    return OnboardingSummary(
        onboarding_id=onboarding.id,
        client_id=client.id,
        client_name=client.name,
        channel_id=client.conversation_id,
        contact_user_id=client.contact_user_id,
        language=client.language,
        state=onboarding.state,
        step=step_reached(onboarding.state),
        created_at=onboarding.created_at,
        last_activity_at=onboarding.updated_at,
        last_progress_at=onboarding.last_progress_at,
        idle_working_days=policy.calendar.working_days_between(onboarding.last_progress_at, now),
        stalled=is_open and policy.is_stalled(onboarding.last_progress_at, now),
        blocked_until=onboarding.blocked_until
        if onboarding.blocked_until and onboarding.blocked_until > now
        else None,
        expires_at=onboarding.expires_at,
    )


def needing_attention_first(summaries: Iterable[OnboardingSummary]) -> list[OnboardingSummary]:
    """Stalled first, then the longest without progress first."""
    return sorted(summaries, key=lambda row: (not row.stalled, row.last_progress_at))


class StatusReports(Protocol):
    """The status reports as the use cases use them.

    An implementation is an `EventBus` subscriber: called as `reports(uow, event)` inside the
    use case's unit of work, it adds the report to the outbox in that same transaction.
    """

    def __call__(self, uow: HasSession, event: OnboardingEvent) -> None: ...

    def digest(
        self,
        open_onboardings: Sequence[OnboardingSummary],
        ended_since_previous: Mapping[str, int],
        *,
        day: date,
    ) -> Message:
        """Counts per state, what ended since the previous digest, and the stalled ones."""
        ...

    def nudge(self, row: OnboardingSummary, number: int) -> Message:
        """The reminder in the client's own channel and language."""
        ...
