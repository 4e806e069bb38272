"""What the overviews and reports know of an onboarding, whatever chat tool shows them.

`OnboardingSummary` is one onboarding as the status list, the App Home and the digest show it.
`StatusNotices` makes the reports as notices for the outbox: one per meaningful event, the daily
digest, the nudges; `LinkEventNotices` those of link events and `invite_update` the redraw of an
invite. The chat transport draws them when it sends (Slack: `bot.transports.slack.render`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import Session

from bot.core.events import (
    DomainEvent,
    LinkEvent,
    LinkMovedToRest,
    LinkMoveRequested,
    LinkNeedsRelink,
    LinkRecovered,
    LinkRelinked,
    LinkRemovedByCustomer,
    OnboardingEvent,
    OnboardingStoppedByCustomer,
)
from bot.core.flow import END_STATES, State, step_reached
from bot.core.migration import MigrationStatus
from bot.core.model import InviteStatus
from bot.core.notices import Notice, as_values
from bot.i18n import catalogue
from bot.outbox import enqueue
from bot.schedule import ReminderPolicy, reminder_policy
from bot.settings import Settings
from storage.models import Client, Onboarding

# Events that are progress, not news: the next real event (or the digest) covers them.
UNREPORTED_KINDS = frozenset({"credentials_verified"})

logger = logging.getLogger(__name__)


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
        migration: MigrationStatus | None = None,
    ) -> Notice:
        """Counts per state, what ended since the previous digest, the stalled ones, and where
        the move of the links to the REST API stands."""
        ...

    def nudge(self, row: OnboardingSummary, number: int) -> Notice:
        """The reminder in the client's own channel and language."""
        ...


def status_notices(settings: Settings) -> StatusNotices:
    """The reports as `serve` sends them: to STATUS_CHANNEL, in DEFAULT_LANGUAGE."""
    return StatusNotices(
        status_channel=settings.status_channel,
        language=settings.default_language,
        policy=reminder_policy(settings),
    )


class StatusNotices:
    """The status reports as notices: to `status_channel` in `language`; nudges to the
    client's channel in the client's language (bot.reports.StatusReports)."""

    def __init__(self, *, status_channel: str, language: str, policy: ReminderPolicy):
        self.status_channel = status_channel
        self.language = language
        self.policy = policy

    def __call__(self, uow: HasSession, event: OnboardingEvent) -> None:
        notice = self.notice_for(event)
        if notice is not None:
            enqueue(uow.session, notice, now=event.at)

    def notice_for(self, event: OnboardingEvent) -> Notice | None:
        if event.kind in UNREPORTED_KINDS:
            return None
        if not catalogue(self.language).has(f"reports.event.{event.kind}"):
            logger.error("no status report text for event %s", event.kind)
            return None
        return Notice(
            kind=f"report.{event.kind}",
            recipient=self.status_channel,
            language=self.language,
            values=event_values(event),
        )

    def digest(
        self,
        open_onboardings: Sequence[OnboardingSummary],
        ended_since_previous: Mapping[str, int],
        *,
        day: date,
        migration: MigrationStatus | None = None,
    ) -> Notice:
        return Notice(
            kind="digest",
            recipient=self.status_channel,
            language=self.language,
            values={
                "day": day.isoformat(),
                "open": [as_values(row) for row in open_onboardings],
                "ended": dict(ended_since_previous),
                "stalled_after_days": self.policy.first_working_days,
                "migration": as_values(migration) if migration is not None else None,
            },
            dedupe_key=f"digest:{day.isoformat()}",
        )

    def nudge(self, row: OnboardingSummary, number: int) -> Notice:
        return Notice(
            kind="nudge",
            recipient=row.channel_id,
            language=row.language,
            values={"summary": as_values(row), "number": number},
            dedupe_key=f"nudge:{row.onboarding_id}:{row.last_progress_at.isoformat()}:{number}",
        )


def invite_update(status: InviteStatus) -> Notice:
    """The invite message redrawn for its new state (bot.ports.InviteRedraw)."""
    return Notice(
        kind="invite_update",
        recipient=status.channel_id,
        language=status.language,
        values={"status": as_values(status)},
        updates=status.message_ts,
    )


class LinkEventNotices:
    """The notices of link events (bot.ports.LinkNotices): reports in `status_channel` in
    `language`; the client's channel in the client's language; a direct message to the account
    manager when the customer stops or removes."""

    def __init__(self, *, status_channel: str, language: str):
        self.status_channel = status_channel
        self.language = language

    def notices_for(self, event: LinkEvent) -> list[Notice]:
        values = event_values(event)
        if event.kind in (OnboardingStoppedByCustomer.kind, LinkRemovedByCustomer.kind):
            if not event.manager or not _is_person(event.manager):
                return []
            return [
                Notice(
                    kind=f"dm.{event.kind}",
                    recipient=event.manager,
                    language=self.language,
                    values=values,
                    dedupe_key=f"{event.kind}:{event.onboarding_id}:{event.link_id or ''}",
                )
            ]
        notices = []
        if self.status_channel:
            notices.append(
                Notice(
                    kind=f"report.{event.kind}",
                    recipient=self.status_channel,
                    language=self.language,
                    values=values,
                )
            )
        # What asks the client's channel to act: once per notice key.
        request = _CHANNEL_REQUESTS.get(event.kind)
        if request is not None:
            notices.append(
                Notice(
                    kind=request,
                    recipient=event.channel_id,
                    language=event.language,
                    values=values,
                    dedupe_key=event.notice_key,
                )
            )
        elif (
            event.kind in (LinkRelinked.kind, LinkRecovered.kind, LinkMovedToRest.kind)
            and event.notice_ts
        ):
            notices.append(
                Notice(
                    kind="link_notice_update",
                    recipient=event.channel_id,
                    language=event.language,
                    values=values,
                    updates=event.notice_ts,
                )
            )
        return notices


_CHANNEL_REQUESTS = {
    LinkMoveRequested.kind: "link_move_request",
    LinkNeedsRelink.kind: "link_notice",
}


def event_values(event: DomainEvent) -> dict[str, Any]:
    """An event as the values of its notice (`event_type(values["event_kind"])` reads it)."""
    return {"event_kind": event.kind, "event": as_values(event)}


def _is_person(actor: str) -> bool:
    """A chat user, as opposed to the bot itself ("system") or the command line ("cli")."""
    return actor not in ("", "system", "cli")
