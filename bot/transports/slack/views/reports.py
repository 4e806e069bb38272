"""The status reports, the daily digest and the nudges drawn as Slack mrkdwn.

The texts are the plain `reports` catalogue; the markup (bold names, channel links, mentions)
is added here. Who gets them and in which language is the notice's (bot.reports). Everything is
drawn from status events and stored rows that hold no secrets: names, states, counts and ids,
never a token and never payroll data of employees. Nothing here sends: the outbox does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import ContextBlock, SectionBlock

from bot.clock import WorkingCalendar
from bot.core.events import OnboardingEvent
from bot.core.flow import MAIN_LINE, State
from bot.core.migration import MigrationStatus
from bot.i18n import Catalogue, catalogue
from bot.reports import OnboardingSummary, needing_attention_first
from bot.transports.slack.mrkdwn import (
    ONBOARD_COMMAND,
    bold,
    channel,
    code,
    escape,
    is_person,
    mention,
    verbatim,
    with_lead,
)

STEPS = len(MAIN_LINE)
ENDED_ORDER = (State.COMPLETED, State.HANDOFF, State.CANCELLED, State.EXPIRED, State.UNLINKED)
LIST_LIMIT = 10
STALLED_LIMIT = 20


class ReportMessages:
    """The text of a status report, of the digest and of a nudge, in `language`."""

    def __init__(self, *, language: str, calendar: WorkingCalendar):
        self.texts = catalogue(language)
        self.calendar = calendar
        self._extra_values: dict[str, Callable[[OnboardingEvent], dict[str, Any]]] = {
            "terms_accepted": lambda event: {"package": self._package(event)},
            "handed_off": lambda event: {"reason": self._handoff_reason(event)},
            "access_refused": lambda event: {
                "why": self.texts.text(f"reports.refusal.{event.reason}")  # type: ignore[attr-defined]
            },
            "invite_created": lambda event: {
                "language": self.texts.text(f"manager.start.language_{event.language}")  # type: ignore[attr-defined]
            },
            "credentials_rejected": lambda event: {"count": event.attempts_left},  # type: ignore[attr-defined]
            "credential_attempts_blocked": lambda event: {
                "until": self.format_time(datetime.fromisoformat(event.blocked_until))  # type: ignore[attr-defined]
            },
            # Counted: the companies the login has access to, of which the client chose some.
            "over_access_warned": lambda event: {"count": event.companies_seen},  # type: ignore[attr-defined]
            "over_access_confirmed": lambda event: {"count": event.companies_seen},  # type: ignore[attr-defined]
            "over_access_narrowing": lambda event: {"count": event.companies_seen},  # type: ignore[attr-defined]
            "permissions_missing": lambda event: {
                "count": len(event.missing_permissions),  # type: ignore[attr-defined]
                "permissions": self.short_list(event.missing_permissions),  # type: ignore[attr-defined]
            },
            "companies_already_linked": lambda event: {
                "companies": self.short_list(
                    self.texts.text(
                        "reports.already_linked.company",
                        company=escape(company["name"]),
                        number=company["number"],
                        other_client=bold(escape(company["other_client"])),
                    )
                    for company in event.companies  # type: ignore[attr-defined]
                ),
                "manager": self.actor(event.manager),  # type: ignore[attr-defined]
            },
            "onboarding_completed": lambda event: {
                "count": len(event.companies),  # type: ignore[attr-defined]
                "companies": self.short_list(
                    escape(company["name"])
                    for company in event.companies  # type: ignore[attr-defined]
                ),
            },
        }

    def event_text(self, event: OnboardingEvent) -> str:
        key = f"reports.event.{event.kind}"
        values: dict[str, Any] = {
            **event.detail(),
            "client": bold(escape(event.client_name)),
            "channel": channel(event.channel_id),
            "actor": self.actor(event.actor),
            "command": code(ONBOARD_COMMAND),
        }
        extra = self._extra_values.get(event.kind)
        if extra is not None:
            values.update(extra(event))
        return self.texts.text(key, **values)

    def digest(
        self,
        open_onboardings: Sequence[OnboardingSummary],
        ended_since_previous: Mapping[str, int],
        *,
        day: date,
        stalled_after_days: int,
        migration: MigrationStatus | None = None,
    ) -> str:
        """Counts per state, what ended since the previous digest, the stalled ones, and where
        the move of the links to the REST API stands."""
        texts = self.texts
        lines = [with_lead(texts, "reports.digest.title", date=self.format_date(day))]
        if migration is not None and migration.total:
            lines.append(migration_line(texts, migration))
        open_counts = Counter(row.state for row in open_onboardings)
        if open_onboardings:
            lines.append(
                with_lead(
                    texts,
                    "reports.digest.open",
                    total=len(open_onboardings),
                    states=self._state_counts(open_counts, MAIN_LINE),
                )
            )
        else:
            lines.append(with_lead(texts, "reports.digest.none_open", "reports.digest.open_lead"))
        ended = {state: count for state, count in ended_since_previous.items() if count}
        if ended:
            lines.append(
                with_lead(
                    texts, "reports.digest.ended", states=self._state_counts(ended, ENDED_ORDER)
                )
            )
        else:
            lines.append(with_lead(texts, "reports.digest.none_ended", "reports.digest.ended_lead"))
        stalled = [row for row in needing_attention_first(open_onboardings) if row.stalled]
        if stalled:
            lines.append(with_lead(texts, "reports.digest.stalled_title", count=stalled_after_days))
            lines.extend(
                texts.plural(
                    "reports.digest.stalled_row",
                    row.idle_working_days,
                    client=bold(escape(row.client_name)),
                    channel=channel(row.channel_id),
                    state=self.state_label(row.state),
                )
                for row in stalled[:STALLED_LIMIT]
            )
            if len(stalled) > STALLED_LIMIT:
                lines.append(texts.plural("reports.more", len(stalled) - STALLED_LIMIT))
        else:
            lines.append(texts.text("reports.digest.none_stalled"))
        return "\n".join(lines)

    def thread_parent(self, row: OnboardingSummary) -> tuple[str, list[dict[str, Any]]]:
        """The parent of an onboarding's status thread: where it stands, who owns it."""
        texts = self.texts
        state = self.state_label(row.state)
        if row.step is not None and row.is_open:
            state = texts.text("reports.thread.state_step", state=state, step=row.step, steps=STEPS)
        health = (
            texts.text("reports.thread.blocked", until=self.format_time(row.blocked_until))
            if row.blocked_until is not None
            else texts.text(f"reports.health.{row.health}")
        )
        line = texts.text(
            "reports.thread.parent",
            marker=health_marker(texts, row.health),
            client=bold(escape(row.client_name)),
            channel=channel(row.channel_id),
            state=state,
            health=health,
        )
        owner = mention(row.owner) if is_person(row.owner) else self.actor(row.owner)
        context = texts.text("reports.thread.owner", owner=owner)
        blocks = [
            SectionBlock(text=verbatim(line)).to_dict(),
            ContextBlock(elements=[verbatim(context)]).to_dict(),
        ]
        return f"{line}\n{context}", blocks

    def for_owner(self, text: str, owner: str | None) -> str:
        """A report that needs a person, addressed to the account manager who owns it."""
        if not owner or not is_person(owner):
            return text
        return self.texts.text("reports.thread.attention", owner=mention(owner), report=text)

    def manager_message(self, event: OnboardingEvent) -> str:
        """The direct message to the account manager who owns a handed-off onboarding."""
        return self.texts.text(
            "reports.dm.handed_off",
            client=bold(escape(event.client_name)),
            channel=channel(event.channel_id),
            reason=self._handoff_reason(event),
        )

    def nudge(self, row: OnboardingSummary, number: int) -> str:
        """The reminder to the client."""
        texts = self.texts
        if number == 1:
            text = texts.text("reports.nudge.first")
        elif row.expires_at is None:
            text = texts.text("reports.nudge.second_no_expiry")
        else:
            expires = self.calendar.local(row.expires_at).date()
            text = texts.text("reports.nudge.second", expires=self.format_date(expires))
        return text

    # --- formatting ---------------------------------------------------------------------

    def actor(self, actor: str) -> str:
        if is_person(actor):
            return mention(actor)
        return self.texts.text("reports.system_actor")

    def state_label(self, state: str) -> str:
        return self.texts.get(f"reports.state.{state}", state)

    def short_list(self, items: Iterable[str]) -> str:
        items = list(items)
        shown = self.texts.text("reports.list_separator").join(items[:LIST_LIMIT])
        if len(items) > LIST_LIMIT:
            shown += " " + self.texts.plural("reports.more", len(items) - LIST_LIMIT)
        return shown

    def format_date(self, day: date) -> str:
        return self.texts.date(day, self.calendar.zone)

    def format_time(self, moment: datetime) -> str:
        return self.texts.time(moment, self.calendar.zone)

    def _state_counts(self, counts: Mapping[str, int], order: Iterable[str]) -> str:
        parts = [
            self.texts.text(
                "reports.digest.state_count", state=self.state_label(state), total=counts[state]
            )
            for state in order
            if counts.get(state)
        ]
        return self.texts.text("reports.list_separator").join(parts)

    def _package(self, event: OnboardingEvent) -> str:
        package = event.package  # type: ignore[attr-defined]
        return self.texts.get(f"customer.terms.packages.{package}", package)

    def _handoff_reason(self, event: OnboardingEvent) -> str:
        reason = event.reason  # type: ignore[attr-defined]
        package = getattr(event, "package", None)
        package_label = self.texts.get(f"customer.terms.packages.{package}", package or "")
        key = f"reports.handoff_reason.{reason}"
        return self.texts.text(key, package=package_label) if key in self.texts else reason


def health_marker(texts: Catalogue, health: str) -> str:
    """The colour of an onboarding's health (bot.reports.health), as the overviews show it."""
    return texts.text(f"reports.health_marker.{health}")


def migration_line(texts: Catalogue, status: MigrationStatus) -> str:
    """ "x of y links on the REST API, z days left"; once the SOAP API has ended, how many links
    still need a relink."""
    if status.ended:
        relinks = (
            texts.plural("reports.migration.relinks", status.still_soap)
            if status.still_soap
            else texts.text("reports.migration.all_moved")
        )
        return texts.text("reports.migration.ended", relinks=relinks)
    return texts.text(
        "reports.migration.line",
        links=texts.plural("reports.migration.links", status.total, on_rest=status.on_rest),
        days=texts.plural("reports.migration.days", status.days_left),
    )
