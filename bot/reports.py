"""What the overviews and reports know of an onboarding, whatever chat tool shows them.

`OnboardingSummary` is one onboarding as the status list, the App Home and the digest show it.
`StatusNotices` makes the reports as notices for the outbox: one per meaningful event, the daily
digest, the nudges; `LinkEventNotices` those of link events and `invite_update` the redraw of an
invite. The chat transport draws them when it sends (Slack: `bot.transports.slack.render`).

The status channel holds one thread per onboarding: its parent (`THREAD_KIND`, queued with the
invite under the dedupe key `thread_key(onboarding_id)`) shows where the onboarding stands and
is redrawn in place at every event; the events are replies in its thread. What needs a person
(`NEEDS_A_PERSON`) is a reply shown at the top level too, naming the account manager who
started the onboarding; a handoff also goes to them as a direct message. Onboardings from
before the threads (no parent queued) keep getting their reports as messages of their own.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy.event
from sqlmodel import Session, select

from bot.core.events import (
    DomainEvent,
    HandedOff,
    InviteCreated,
    LinkEnvironmentUnconfirmed,
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
from bot.core.progress import CheckOutcome, OnboardingProgress
from bot.i18n import catalogue
from bot.outbox import enqueue, enqueue_once, enqueue_redraw
from bot.schedule import ReminderPolicy, reminder_policy
from bot.settings import Settings
from storage.models import Client, Onboarding, OutboxMessage

# Events that are progress, not news: the next real event (or the digest) covers them.
UNREPORTED_KINDS = frozenset({"credentials_verified"})

# The parent of an onboarding's thread in the status channel, redrawn as it moves on.
THREAD_KIND = "status_thread"
# Events someone must act on: a reply in the thread that is shown at the top level too, naming
# the account manager who started the onboarding.
NEEDS_A_PERSON = frozenset(
    {
        HandedOff.kind,
        "credential_attempts_blocked",
        "over_access_confirmed",
        LinkEnvironmentUnconfirmed.kind,
        LinkNeedsRelink.kind,
    }
)

# How an onboarding is doing, as the overviews colour it.
RUNNING, STALLED, WAITING, BLOCKED, HANDED_OFF, HANDLED, COMPLETED, ENDED = (
    "running",
    "stalled",
    "waiting",
    "blocked",
    "handoff",
    "handled",
    "completed",
    "ended",
)


# The session's redraws of thread parents still to queue at its commit.
_REDRAWS = "status_thread_redraws"


def thread_key(onboarding_id: int) -> str:
    """The dedupe key of the parent of an onboarding's status thread."""
    return f"{THREAD_KIND}:{onboarding_id}"


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
    # The account manager who started it (a chat user id, or "cli").
    owner: str = ""
    # RUNNING, STALLED, WAITING (the customer must fix something in Nmbrs), BLOCKED (too many
    # wrong tokens), HANDED_OFF (HANDLED once ticked off), COMPLETED or ENDED (cancelled,
    # expired, unlinked).
    health: str = RUNNING

    @property
    def is_open(self) -> bool:
        return self.state not in END_STATES


def summarise(
    onboarding: Onboarding, client: Client, *, now: datetime, policy: ReminderPolicy
) -> OnboardingSummary:
    assert onboarding.id is not None and client.id is not None
    is_open = State(onboarding.state) not in END_STATES
    stalled = is_open and policy.is_stalled(onboarding.last_progress_at, now)
    blocked_until = (
        onboarding.blocked_until
        if onboarding.blocked_until and onboarding.blocked_until > now
        else None
    )
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
        stalled=stalled,
        blocked_until=blocked_until,
        expires_at=onboarding.expires_at,
        owner=onboarding.started_by,
        health=health(onboarding, stalled=stalled, blocked=blocked_until is not None),
    )


def health(onboarding: Onboarding, *, stalled: bool, blocked: bool) -> str:
    """How an onboarding is doing: blocked or waiting for the customer's fix before stalled,
    stalled before running; a handoff, or ended."""
    state = State(onboarding.state)
    if state == State.COMPLETED:
        return COMPLETED
    if state in END_STATES and state != State.HANDOFF:
        return ENDED
    progress = OnboardingProgress.from_json(onboarding.step_data)
    if state == State.HANDOFF:
        return HANDLED if progress.handoff_done_by else HANDED_OFF
    if blocked:
        return BLOCKED
    check = progress.check
    if (
        state == State.CREDENTIALS_VERIFIED
        and check is not None
        and check.outcome is CheckOutcome.OK
        and (check.missing_permissions or not progress.companies)
    ):
        return WAITING
    return STALLED if stalled else RUNNING


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
        """The event's report as a reply in the onboarding's thread, its parent redrawn (or
        queued, with the invite), and for a handoff a direct message to the owner."""
        session = uow.session
        onboarding = session.get(Onboarding, event.onboarding_id)
        client = session.get(Client, event.client_id)
        report = self.notice_for(event)
        if onboarding is None or client is None:
            if report is not None:
                enqueue(session, report, now=event.at)
            return
        key = thread_key(event.onboarding_id)
        owner = onboarding.started_by
        if event.kind == InviteCreated.kind:
            # Queued before its first reply, which the order per recipient then holds back.
            parent = self._parent(onboarding, client, at=event.at)
            enqueue_once(session, dataclasses.replace(parent, dedupe_key=key), now=event.at)
            threaded = True
        else:
            threaded = _queued(session, key)
            if threaded:
                self._redraw_when_committed(session, event.onboarding_id, event.at)
        if report is not None:
            if threaded:
                report = in_thread(report, key, owner=owner)
            enqueue(session, report, now=event.at)
        if event.kind == HandedOff.kind and _is_person(owner):
            dm = Notice(
                kind=f"dm.{event.kind}",
                recipient=owner,
                language=self.language,
                values=event_values(event),
            )
            enqueue(session, dm, now=event.at)

    def _parent(self, onboarding: Onboarding, client: Client, *, at: datetime) -> Notice:
        summary = summarise(onboarding, client, now=at, policy=self.policy)
        return Notice(
            kind=THREAD_KIND,
            recipient=self.status_channel,
            language=self.language,
            values={"summary": as_values(summary)},
        )

    def _redraw_when_committed(self, session: Session, onboarding_id: int, at: datetime) -> None:
        """Redraw the thread's parent once, just before the transaction commits: from the row as
        the use case leaves it (an event is often published before its progress is saved)."""
        redraws: dict[int, datetime] = session.info.setdefault(_REDRAWS, {})
        if not redraws:
            sqlalchemy.event.listen(session, "before_commit", self._redraw, once=True)
        redraws[onboarding_id] = at

    def _redraw(self, session: Session) -> None:
        for onboarding_id, at in session.info.pop(_REDRAWS, {}).items():
            onboarding = session.get(Onboarding, onboarding_id)
            client = session.get(Client, onboarding.client_id) if onboarding else None
            if onboarding is None or client is None:
                continue
            parent = self._parent(onboarding, client, at=at)
            key = thread_key(onboarding_id)
            enqueue_redraw(session, dataclasses.replace(parent, updates_of=key), now=at)

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


def in_thread(report: Notice, key: str, *, owner: str | None) -> Notice:
    """A report as a reply under the parent `key` names; what needs a person is shown at the
    top level too and names `owner` (the values' "owner", when a person)."""
    kind = str(report.values.get("event_kind", ""))
    if kind not in NEEDS_A_PERSON:
        return dataclasses.replace(report, thread_of=key)
    values = dict(report.values)
    if owner and _is_person(owner):
        values["owner"] = owner
    return dataclasses.replace(report, thread_of=key, broadcast=True, values=values)


def _queued(session: Session, key: str) -> bool:
    """Whether the notice `key` names was ever queued (sent or not)."""
    found = session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first()
    return found is not None


def invite_update(status: InviteStatus, *, dedupe_key: str | None = None) -> Notice:
    """The invite message `status.message_ts` redrawn for its new state."""
    return Notice(
        kind="invite_update",
        recipient=status.channel_id,
        language=status.language,
        values={"status": as_values(status)},
        updates=status.message_ts,
        dedupe_key=dedupe_key,
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
            report = Notice(
                kind=f"report.{event.kind}",
                recipient=self.status_channel,
                language=self.language,
                values=values,
            )
            # In the onboarding's thread (a message of its own when it has none).
            notices.append(in_thread(report, thread_key(event.onboarding_id), owner=event.manager))
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
