"""What happened, as one family of events: in an onboarding, to a link, and by an account
manager. Reports and notices are made from them; every event is kept in the audit trail under
its `kind`.

A use case publishes events through the `EventBus` inside its unit of work, before it commits.
Subscribers run in that same transaction (`subscriber(uow, event)`), so a report is written
exactly when the change it reports is committed, and a replayed or refused request (which
commits nothing) reports nothing.

Events carry no secrets: never a token, only names, counts and ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol


class AuditTrail(Protocol):
    def record(
        self,
        kind: str,
        *,
        actor: str,
        onboarding_id: int | None = None,
        link_id: int | None = None,
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> object: ...


class UnitOfWorkWithAudit(Protocol):
    @property
    def audit(self) -> AuditTrail: ...


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event. `actor` is the chat user id (or "system")."""

    kind: ClassVar[str]
    onboarding_id: int
    client_name: str
    channel_id: str
    actor: str
    at: datetime

    def audit_link_id(self) -> int | None:
        """The link the audit entry is filed under (link events only)."""
        return None

    def detail(self) -> dict[str, Any]:
        raise NotImplementedError


# --- the onboarding ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OnboardingEvent(DomainEvent):
    """Something in an onboarding; the status reports are made of these."""

    client_id: int

    def detail(self) -> dict[str, Any]:
        """The event's own fields (besides the common ones), JSON-ready."""
        common = {"onboarding_id", "client_id", "client_name", "channel_id", "actor", "at"}
        return {key: value for key, value in asdict(self).items() if key not in common}


@dataclass(frozen=True, kw_only=True)
class InviteCreated(OnboardingEvent):
    kind = "invite_created"
    language: str


@dataclass(frozen=True, kw_only=True)
class OnboardingStarted(OnboardingEvent):
    """The customer opened the flow for the first time."""

    kind = "onboarding_started"
    actor_team_id: str | None


@dataclass(frozen=True, kw_only=True)
class TermsAccepted(OnboardingEvent):
    kind = "terms_accepted"
    terms_version: str
    package: str


@dataclass(frozen=True, kw_only=True)
class HandedOff(OnboardingEvent):
    """The onboarding needs a person: another package, or Nmbrs without API access."""

    kind = "handed_off"
    reason: str  # "package_not_listed", "other_package" or "no_subscription"
    package: str | None = None


@dataclass(frozen=True, kw_only=True)
class PackageChoiceReopened(OnboardingEvent):
    """The customer went back from a handoff to the terms and the package choice."""

    kind = "package_choice_reopened"
    previous_package: str | None = None


@dataclass(frozen=True, kw_only=True)
class HandoffDone(OnboardingEvent):
    """An account manager took a handoff off the to-do list: the client was helped."""

    kind = "handoff_done"


@dataclass(frozen=True, kw_only=True)
class CredentialsRejected(OnboardingEvent):
    """A wrong username or token. The username is not named: a rejected one may be anything
    the person typed, a token among them."""

    kind = "credentials_rejected"
    attempts_left: int


@dataclass(frozen=True, kw_only=True)
class CredentialAttemptsBlocked(OnboardingEvent):
    """Too many wrong tokens; the account manager can lift the block."""

    kind = "credential_attempts_blocked"
    blocked_until: str  # ISO 8601, UTC


@dataclass(frozen=True, kw_only=True)
class CredentialBlockLifted(OnboardingEvent):
    kind = "credential_block_lifted"


@dataclass(frozen=True, kw_only=True)
class CredentialsVerified(OnboardingEvent):
    kind = "credentials_verified"
    username: str
    domain: str
    companies_seen: int
    missing_permissions: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PermissionsMissing(OnboardingEvent):
    kind = "permissions_missing"
    missing_permissions: list[str]


@dataclass(frozen=True, kw_only=True)
class NoCompaniesVisible(OnboardingEvent):
    kind = "no_companies_visible"
    username: str


@dataclass(frozen=True, kw_only=True)
class ProviderFailed(OnboardingEvent):
    """Nmbrs was unreachable or failing during a check; the customer can retry."""

    kind = "provider_failed"
    error: str


@dataclass(frozen=True, kw_only=True)
class OverAccessWarned(OnboardingEvent):
    """The login sees more companies than the customer chose (AVG risk)."""

    kind = "over_access_warned"
    companies_seen: int
    companies_chosen: int


@dataclass(frozen=True, kw_only=True)
class OverAccessConfirmed(OnboardingEvent):
    kind = "over_access_confirmed"
    companies_seen: int
    companies_chosen: int


@dataclass(frozen=True, kw_only=True)
class OverAccessNarrowing(OnboardingEvent):
    """The customer went back to narrow the klant login filter."""

    kind = "over_access_narrowing"
    companies_seen: int


@dataclass(frozen=True, kw_only=True)
class OnboardingCompleted(OnboardingEvent):
    kind = "onboarding_completed"
    link_id: int
    username: str
    domain: str
    companies: list[dict[str, Any]]  # {"id", "number", "name", "guid"}
    companies_seen: int


@dataclass(frozen=True, kw_only=True)
class CompaniesAlreadyLinked(OnboardingEvent):
    """The customer linked companies another client's link holds already (the same provider
    company, or the same GUID); the account manager who started it (`manager`) should look."""

    kind = "companies_already_linked"
    link_id: int
    companies: list[dict[str, Any]]  # {"name", "number", "other_client"}
    manager: str


@dataclass(frozen=True, kw_only=True)
class OnboardingCancelled(OnboardingEvent):
    kind = "onboarding_cancelled"


@dataclass(frozen=True, kw_only=True)
class OnboardingExpired(OnboardingEvent):
    kind = "onboarding_expired"


@dataclass(frozen=True, kw_only=True)
class AccessRefused(OnboardingEvent):
    """Someone outside the client's channel, or of another organisation, tried to act on its
    onboarding."""

    kind = "access_refused"
    user_team_id: str | None
    reason: str  # bot.core.access: "not_a_member", "wrong_channel" or "other_organisation"


# --- by the account manager -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InviteResent(OnboardingEvent):
    kind = "invite_resent"


@dataclass(frozen=True, kw_only=True)
class LinkUnlinked(OnboardingEvent):
    kind = "link_unlinked"
    link_id: int


@dataclass(frozen=True, kw_only=True)
class LinkUnlinkedNotRevoked(LinkUnlinked):
    """Unlinked and its grant erased here, but Nmbrs could not be told to revoke it (the
    customer can revoke it in Nmbrs)."""

    kind = "link_unlinked_not_revoked"


# --- the link after the onboarding ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LinkEvent(DomainEvent):
    """Something that happened to a link or, from the customer, to an onboarding; the link
    notices (status channel, client's channel, the account manager) are made of these."""

    link_id: int | None
    language: str
    manager: str | None = None
    reason: str | None = None
    missing_permissions: tuple[str, ...] = ()
    companies_gone: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    companies_seen: int = 0
    # A relink's Nmbrs login and environment, before and after (none for other events); named
    # `..._username` so the retention job drops them from the audit trail with the others.
    previous_username: str | None = None
    username: str | None = None
    previous_environment: str | None = None
    environment: str | None = None
    # The client-channel notice asking for a relink: its outbox key, and its ts once sent.
    notice_key: str | None = None
    notice_ts: str | None = None
    # The day the Nmbrs SOAP API ends (ISO 8601), for the request to move a link to REST.
    soap_ends_on: str | None = None

    def audit_link_id(self) -> int | None:
        return self.link_id

    def detail(self) -> dict[str, Any]:
        common = {"onboarding_id", "link_id", "actor", "at", "language", "notice_ts"}
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
            if key not in common and value not in (None, (), 0)
        }


@dataclass(frozen=True, kw_only=True)
class LinkNeedsRelink(LinkEvent):
    kind = "link_needs_relink"


@dataclass(frozen=True, kw_only=True)
class LinkRecovered(LinkEvent):
    kind = "link_recovered"


@dataclass(frozen=True, kw_only=True)
class LinkRelinked(LinkEvent):
    kind = "link_relinked"


@dataclass(frozen=True, kw_only=True)
class LinkMoveRequested(LinkEvent):
    """The client's channel is asked to move its SOAP link to the REST API (a relink by
    consent), by `onboard-bot links migrate`."""

    kind = "link_move_requested"


@dataclass(frozen=True, kw_only=True)
class LinkMovedToRest(LinkEvent):
    """A SOAP link was moved to the REST API by the customer's consent."""

    kind = "link_moved_to_rest"


@dataclass(frozen=True, kw_only=True)
class LinkEnvironmentUnconfirmed(LinkEvent):
    """A relink's new login is of another Nmbrs environment: it waits for the account manager."""

    kind = "link_environment_unconfirmed"


@dataclass(frozen=True, kw_only=True)
class LinkEnvironmentConfirmed(LinkEvent):
    """The account manager confirmed a relink to another Nmbrs environment."""

    kind = "link_environment_confirmed"


@dataclass(frozen=True, kw_only=True)
class LinkCompaniesChanged(LinkEvent):
    kind = "link_companies_changed"


@dataclass(frozen=True, kw_only=True)
class LinkOverAccessWarned(LinkEvent):
    kind = "link_over_access_warned"


@dataclass(frozen=True, kw_only=True)
class OnboardingStoppedByCustomer(LinkEvent):
    kind = "onboarding_stopped_by_customer"


@dataclass(frozen=True, kw_only=True)
class LinkRemovedByCustomer(LinkEvent):
    kind = "link_removed_by_customer"


def event_type(kind: str) -> type[DomainEvent]:
    """The event class of `kind` (a notice carries its event as values under its kind)."""
    found: list[type[DomainEvent]] = [DomainEvent]
    for cls in found:
        if getattr(cls, "kind", None) == kind:
            return cls
        found.extend(cls.__subclasses__())
    raise KeyError(kind)


Subscriber = Callable[[Any, DomainEvent], None]


class EventBus:
    """Audits every event and hands it to the subscribers, inside the publishing unit of work."""

    def __init__(self, subscribers: list[Subscriber] | None = None):
        self._subscribers: list[Subscriber] = list(subscribers or [])

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, uow: UnitOfWorkWithAudit, event: DomainEvent) -> None:
        audit(uow, event)
        for subscriber in self._subscribers:
            subscriber(uow, event)


def audit(uow: UnitOfWorkWithAudit, event: DomainEvent) -> None:
    """The audit row of an event, in the publishing unit of work (every event has one)."""
    uow.audit.record(
        event.kind,
        actor=event.actor,
        onboarding_id=event.onboarding_id,
        link_id=event.audit_link_id(),
        detail=event.detail(),
        at=event.at,
    )
