"""After the link: verify it, relink it, change its companies, stop, and erase what is no longer
needed. Pure use cases: no Slack here (messages go through the outbox, built by `LinkNotices`).

- `LinkMaintenance` is what runs without a person: `verify(link_id)` / `verify_all()` re-run
  the credential and permission check of a link against the payroll provider, and mark a link
  whose token was revoked, whose permissions were switched off or whose chosen companies are no
  longer visible as needs_relink: reported once (status channel, and the client's channel with a
  relink button), since only the verification that moves the link reports it. Links are
  verified one after another through the one shared provider, whose per-account rate limiter
  keeps every Nmbrs account within its fair-use limit, whatever else is calling it.
  `erase_ended_data()` is the retention job: the data of cancelled and expired onboardings
  (step data with usernames and company lists, any pending token) is erased RETENTION_DAYS
  after they ended; their audit trail stays (it never held secrets). Relink and company
  sessions a customer abandoned are dropped after a day, kept token included.
- `LinkService` holds the customer's use cases from the client's channel: relink (the same
  credential screens as the onboarding; the link is updated in place, chosen companies kept
  where still visible), change the linked companies (with the over-access check again), stop an
  open onboarding, remove a link. Only members of the client's channel may use them.

Relink and company changes keep their progress with the onboarding (`step_data["link_session"]`,
the verified token in `pending_token`), so they survive a closed modal or a restart; views carry
the onboarding's `link_step` counter, so a double click or a retried request is answered with
the current screen instead of being applied twice. Provider calls happen between transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import select

from bot import flow
from bot.clock import Clock, SystemClock, WorkingCalendar
from bot.core.payroll import (
    AccountCheck,
    Connection,
    InvalidDomain,
    NoAccess,
    NoSubscription,
    PayrollProvider,
    PermissionsMissing,
    ProviderCompany,
    ProviderError,
    WrongCredentials,
)
from bot.flow import IllegalTransition, State
from bot.outbox import Message, enqueue, enqueue_once
from bot.schedule import Job, daily, hourly
from bot.service import (
    MIN_QUERY_LENGTH,
    NOTICE_ALREADY_DONE,
    Actor,
    BlockedScreen,
    CompanyChoiceScreen,
    CompanyRow,
    CompletedScreen,
    CredentialsScreen,
    EndedScreen,
    ErrorScreen,
    HandoffScreen,
    InvalidInput,
    InviteStatus,
    Membership,
    NoCompaniesScreen,
    OnboardingService,
    Outcome,
    OverAccessScreen,
    PermissionsScreen,
    RefusedScreen,
    Screen,
    StepRef,
    UnavailableScreen,
    clean_token,
    company_row,
    refusal_reason,
    search_companies,
)
from bot.settings import Settings
from storage.links import (
    ACTIVE,
    NEEDS_RELINK,
    CompanyRef,
    change_status,
    client_of,
    ended_onboardings_to_erase,
    linked_ids,
    mark_verified,
    onboardings_with_link_sessions,
    replace_companies,
)
from storage.models import Client, LinkedCompany, Onboarding, OutboxMessage, PayrollLink
from storage.repository import NotFound, SqlUnitOfWork, StaleUpdate, UnitOfWorkFactory

logger = logging.getLogger(__name__)

SYSTEM = "system"

# Why a link needs relinking.
REASON_WRONG_CREDENTIALS = "wrong_credentials"
REASON_PERMISSIONS_MISSING = "permissions_missing"
REASON_COMPANIES_GONE = "companies_gone"
REASON_NO_SUBSCRIPTION = "no_subscription"
REASON_NO_ACCESS = "no_access"
REASON_INVALID_DOMAIN = "invalid_domain"

# What became of one verification.
VERIFIED = "ok"
MARKED = "needs_relink"
RECOVERED = "recovered"
UNAVAILABLE = "unavailable"
SKIPPED = "skipped"  # unlinked, or relinked while the check ran

# Link events: audited, and turned into messages by `LinkNotices`.
LINK_NEEDS_RELINK = "link_needs_relink"
LINK_RECOVERED = "link_recovered"
LINK_RELINKED = "link_relinked"
LINK_COMPANIES_CHANGED = "link_companies_changed"
LINK_OVER_ACCESS_WARNED = "link_over_access_warned"
ONBOARDING_STOPPED_BY_CUSTOMER = "onboarding_stopped_by_customer"
LINK_REMOVED_BY_CUSTOMER = "link_removed_by_customer"

AUDIT_VERIFIED = "link_verified"
AUDIT_CHECK_FAILED = "link_check_failed"
AUDIT_RELINK_REJECTED = "link_relink_rejected"
AUDIT_ACCESS_REFUSED = "link_access_refused"
AUDIT_DATA_ERASED = "onboarding_data_erased"
AUDIT_SESSION_DROPPED = "link_session_dropped"

# The customer's relink or change of companies, kept with the onboarding.
SESSION_KEY = "link_session"
STEP_KEY = "link_step"
KIND_RELINK = "relink"
KIND_COMPANIES = "companies"
STAGE_CREDENTIALS = "credentials"
STAGE_UNAVAILABLE = "unavailable"
STAGE_PERMISSIONS = "permissions"
STAGE_NO_COMPANIES = "no_companies"
STAGE_CHOOSE = "choose"
STAGE_OVER_ACCESS = "over_access"
STAGE_HANDOFF = "handoff"
STAGE_RELINK_FIRST = "relink_first"
STAGE_DONE = "done"
# Stages that hold a verified token or a company list; abandoned, they are dropped.
SESSION_LIFETIME = timedelta(hours=24)

# Onboardings whose data the retention job erases, and what of their step data it keeps.
ERASED_STATES = frozenset({State.CANCELLED.value, State.EXPIRED.value})
KEPT_AFTER_ERASURE = ("step", "last", "started_at")

# What became of a customer's stop or removal.
STOPPED = "stopped"
REMOVED = "removed"
ALREADY_ENDED = "already_ended"
REFUSED = "refused"


# --- what a verification finds ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why a link needs relinking (no secrets: reasons, permission and company names)."""

    reason: str
    missing_permissions: tuple[str, ...] = ()
    companies_gone: tuple[CompanyRow, ...] = ()

    def as_json(self, since: datetime) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "since": since.isoformat(),
            "missing_permissions": list(self.missing_permissions),
            "companies_gone": [asdict(company) for company in self.companies_gone],
        }


def diagnose(check: AccountCheck, linked: Iterable[LinkedCompany]) -> Problem | None:
    """None when the link works: every permission on and every linked company still visible."""
    if check.missing_access:
        return Problem(REASON_PERMISSIONS_MISSING, tuple(check.missing_access))
    visible = {company.ref for company in check.companies}
    gone = tuple(
        CompanyRow(
            id=int(row.provider_company_ref), number=row.number, name=row.name, guid=row.guid
        )
        for row in linked
        if row.provider_company_ref not in visible
    )
    return Problem(REASON_COMPANIES_GONE, companies_gone=gone) if gone else None


def problem_from_error(error: ProviderError) -> Problem | None:
    """The link's own problem behind a provider error; None when Nmbrs failed (try later)."""
    reasons: dict[type[ProviderError], str] = {
        WrongCredentials: REASON_WRONG_CREDENTIALS,
        NoSubscription: REASON_NO_SUBSCRIPTION,
        NoAccess: REASON_NO_ACCESS,
        InvalidDomain: REASON_INVALID_DOMAIN,
    }
    if isinstance(error, PermissionsMissing):
        return Problem(REASON_PERMISSIONS_MISSING, tuple(error.missing))
    reason = reasons.get(type(error))
    return Problem(reason) if reason else None


@dataclass(frozen=True)
class VerifyResult:
    link_id: int
    client_name: str
    outcome: str  # VERIFIED, MARKED, RECOVERED, UNAVAILABLE or SKIPPED
    reason: str | None = None
    # Whether this verification reported the change (a link already marked is not again).
    reported: bool = False


# --- events and the messages they become -----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LinkEvent:
    """Something that happened to a link or, from the customer, to an onboarding."""

    kind: str
    onboarding_id: int
    link_id: int | None
    client_name: str
    channel_id: str
    language: str
    actor: str
    at: datetime
    manager: str | None = None
    reason: str | None = None
    missing_permissions: tuple[str, ...] = ()
    companies_gone: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    companies_seen: int = 0
    # The client-channel notice asking for a relink: its outbox key, and its ts once sent.
    notice_key: str | None = None
    notice_ts: str | None = None

    def detail(self) -> dict[str, Any]:
        common = {"kind", "onboarding_id", "link_id", "actor", "at", "language", "notice_ts"}
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
            if key not in common and value not in (None, (), 0)
        }


class LinkNotices(Protocol):
    """Turns a link event into the Slack messages it causes (bot.slack.views.links)."""

    def messages_for(self, event: LinkEvent) -> list[Message]: ...


class Unlinker(Protocol):
    """Removes a link: erases the token, ends the onboarding, audits and reports it
    (bot.manager.ManagerTools). Returns the client's name, or None when already unlinked."""

    def unlink(self, link_id: int, *, manager: str) -> str | None: ...


def notice_key(link_id: int, since: str) -> str:
    return f"link_needs_relink:{link_id}:{since}"


def publish(uow: SqlUnitOfWork, notices: LinkNotices, event: LinkEvent) -> None:
    """Audit the event and put its messages in the outbox, in the caller's transaction."""
    uow.audit.record(
        event.kind,
        actor=event.actor,
        onboarding_id=event.onboarding_id,
        link_id=event.link_id,
        detail=event.detail(),
        at=event.at,
    )
    for message in notices.messages_for(event):
        if message.dedupe_key is None:
            enqueue(uow.session, message, now=event.at)
        else:
            enqueue_once(uow.session, message, now=event.at)


def sent_ts(uow: SqlUnitOfWork, dedupe_key: str | None) -> str | None:
    """Slack's ts of an outbox message, once it was sent."""
    if dedupe_key is None:
        return None
    statement = select(OutboxMessage.message_ref).where(OutboxMessage.dedupe_key == dedupe_key)
    return uow.session.exec(statement).first()


def _names(rows: Iterable[CompanyRow | LinkedCompany | CompanyRef]) -> tuple[str, ...]:
    return tuple(row.name for row in rows)


# --- verification and retention --------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    onboardings: int
    sessions: int


class LinkMaintenance:
    """Verification of links and the retention job. Blocking (database, provider)."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        provider: PayrollProvider,
        notices: LinkNotices,
        settings: Settings,
        clock: Clock | None = None,
    ):
        self._unit_of_work = unit_of_work
        self._provider = provider
        self._notices = notices
        self._settings = settings
        self._clock = clock or SystemClock()

    def verify_all(self, *, actor: str = SYSTEM) -> list[VerifyResult]:
        """Verify every link that is not unlinked, one after another."""
        with self._unit_of_work() as uow:
            link_ids = linked_ids(uow)
        results = []
        for link_id in link_ids:
            try:
                results.append(self.verify(link_id, actor=actor))
            except NotFound:
                continue
            except Exception:
                logger.exception("verifying link %s failed", link_id)
        return results

    def verify(self, link_id: int, *, actor: str = SYSTEM) -> VerifyResult:
        """Check one link at the provider; mark it needs_relink (reported once) or record that it
        works (a link that needed relinking and works again is active again, reported once)."""
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            client_name = client_of(uow, link).name
            if link.revoked_at is not None:
                return VerifyResult(link_id, client_name, SKIPPED, "unlinked")
            token = uow.links.token(link)
            checked_token = link.encrypted_secret
            linked = uow.links.companies(link_id)
            username, status, domain = link.account_label, link.status, link.environment["domain"]
        assert token is not None and checked_token is not None
        connection = Connection(account=username, secret=token, environment=domain)
        try:
            check = self._provider.check_account(connection)
            problem = diagnose(check, linked)
        except ProviderError as error:
            problem = problem_from_error(error)
            if problem is None:
                return self._record_unavailable(link_id, client_name, error, actor)
        now = self._clock.now()
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            if link.revoked_at is not None or link.encrypted_secret != checked_token:
                return VerifyResult(link_id, client_name, SKIPPED, "changed")
            if problem is not None:
                reported = self.mark_needs_relink(
                    uow, link, problem, checked_token=checked_token, actor=actor, now=now
                )
                uow.commit()
                return VerifyResult(link_id, client_name, MARKED, problem.reason, reported)
            uow.audit.record(
                AUDIT_VERIFIED, actor=actor, onboarding_id=link.onboarding_id, link_id=link_id
            )
            if status == NEEDS_RELINK:
                recovered = self._recover(uow, link, checked_token=checked_token, actor=actor)
                uow.commit()
                return VerifyResult(link_id, client_name, RECOVERED, reported=recovered)
            mark_verified(uow, link_id, expected_token=checked_token, at=now)
            uow.commit()
            return VerifyResult(link_id, client_name, VERIFIED)

    def mark_needs_relink(
        self,
        uow: SqlUnitOfWork,
        link: PayrollLink,
        problem: Problem,
        *,
        checked_token: bytes,
        actor: str,
        now: datetime,
    ) -> bool:
        """Mark an active link needs_relink and report it, in the caller's transaction. False
        (nothing reported) when it was marked already (its problem is brought up to date) or its
        token changed since the check."""
        assert link.id is not None
        since = now.isoformat()
        moved = change_status(
            uow,
            link.id,
            expected_status=ACTIVE,
            expected_token=checked_token,
            status=NEEDS_RELINK,
            problem=problem.as_json(now),
        )
        if not moved:
            marked_since = (link.problem or {}).get("since", since)
            change_status(
                uow,
                link.id,
                expected_status=NEEDS_RELINK,
                expected_token=checked_token,
                status=NEEDS_RELINK,
                problem={**problem.as_json(now), "since": marked_since},
            )
            return False
        client = client_of(uow, link)
        publish(
            uow,
            self._notices,
            _link_event(
                LINK_NEEDS_RELINK,
                link,
                client,
                actor=actor,
                at=now,
                reason=problem.reason,
                missing_permissions=problem.missing_permissions,
                companies_gone=_names(problem.companies_gone),
                notice_key=notice_key(link.id, since),
            ),
        )
        return True

    def _recover(
        self, uow: SqlUnitOfWork, link: PayrollLink, *, checked_token: bytes, actor: str
    ) -> bool:
        assert link.id is not None
        now = self._clock.now()
        key = notice_key(link.id, (link.problem or {}).get("since", ""))
        moved = change_status(
            uow,
            link.id,
            expected_status=NEEDS_RELINK,
            expected_token=checked_token,
            status=ACTIVE,
            problem=None,
            verified_at=now,
        )
        if moved:
            event = _link_event(
                LINK_RECOVERED,
                link,
                client_of(uow, link),
                actor=actor,
                at=now,
                notice_key=key,
                notice_ts=sent_ts(uow, key),
            )
            publish(uow, self._notices, event)
        return moved

    def _record_unavailable(
        self, link_id: int, client_name: str, error: ProviderError, actor: str
    ) -> VerifyResult:
        logger.info("link %s could not be verified: %s", link_id, error.code)
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            uow.audit.record(
                AUDIT_CHECK_FAILED,
                actor=actor,
                onboarding_id=link.onboarding_id,
                link_id=link_id,
                detail={"error": error.code},
                at=self._clock.now(),
            )
            uow.commit()
        return VerifyResult(link_id, client_name, UNAVAILABLE, error.code)

    def erase_ended_data(self) -> ErasureResult:
        """Erase what cancelled and expired onboardings held, RETENTION_DAYS after they ended,
        and drop relink and company sessions abandoned for SESSION_LIFETIME."""
        now = self._clock.now()
        ended_before = now - timedelta(days=self._settings.retention_days)
        with self._unit_of_work() as uow:
            erased = 0
            for onboarding in ended_onboardings_to_erase(
                uow, states=ERASED_STATES, ended_before=ended_before
            ):
                data = onboarding.step_data
                uow.onboardings.erase_pending_token(onboarding)
                onboarding.step_data = {key: data[key] for key in KEPT_AFTER_ERASURE if key in data}
                onboarding.data_erased_at = now
                uow.audit.record(
                    AUDIT_DATA_ERASED,
                    actor=SYSTEM,
                    onboarding_id=onboarding.id,
                    detail={
                        "state": onboarding.state,
                        "erased": sorted(key for key in data if key not in KEPT_AFTER_ERASURE),
                    },
                    at=now,
                )
                erased += 1
            dropped = 0
            for onboarding in onboardings_with_link_sessions(uow):
                session = onboarding.step_data.get(SESSION_KEY)
                if not session or not _abandoned(session, now):
                    continue
                onboarding.step_data.pop(SESSION_KEY)
                uow.onboardings.erase_pending_token(onboarding)
                uow.audit.record(
                    AUDIT_SESSION_DROPPED,
                    actor=SYSTEM,
                    onboarding_id=onboarding.id,
                    detail={"kind": session.get("kind"), "stage": session.get("stage")},
                    at=now,
                )
                dropped += 1
            uow.commit()
        if erased or dropped:
            logger.info("retention: erased %s onboardings, dropped %s sessions", erased, dropped)
        return ErasureResult(onboardings=erased, sessions=dropped)


def _abandoned(session: dict[str, Any], now: datetime) -> bool:
    if session.get("stage") == STAGE_DONE:
        return False
    started = session.get("started_at")
    return started is None or datetime.fromisoformat(started) + SESSION_LIFETIME <= now


def _link_event(
    kind: str, link: PayrollLink, client: Client, *, actor: str, at: datetime, **fields: Any
) -> LinkEvent:
    assert link.id is not None
    return LinkEvent(
        kind=kind,
        onboarding_id=link.onboarding_id,
        link_id=link.id,
        client_name=client.name,
        channel_id=client.conversation_id,
        language=client.language,
        actor=actor,
        at=at,
        **fields,
    )


def link_jobs(
    maintenance: LinkMaintenance, *, calendar: WorkingCalendar, settings: Settings
) -> list[Job]:
    """Verification of every link daily at LINK_VERIFY_TIME, and the retention job hourly."""
    return [
        Job(
            "verify_links",
            daily(calendar, settings.link_verify_time),
            lambda _due: maintenance.verify_all(),
        ),
        Job("erase_ended_data", hourly(calendar), lambda _due: maintenance.erase_ended_data()),
    ]


# --- the customer's use cases -----------------------------------------------------------------


@dataclass(frozen=True)
class RelinkFirstScreen:
    """The link does not work: it must be relinked before companies can change."""

    reason: str


@dataclass(frozen=True)
class StaleScreen:
    """The window belongs to a relink or change that is over or was dropped."""


@dataclass(frozen=True)
class StopResult:
    kind: str  # STOPPED, REMOVED, ALREADY_ENDED or REFUSED
    language: str
    invite: InviteStatus | None = None


@dataclass
class _Context:
    uow: SqlUnitOfWork
    onboarding: Onboarding
    client: Client
    link: PayrollLink
    actor: Actor
    now: datetime
    session: dict[str, Any] = field(default_factory=dict)
    invite_changed: bool = False


Apply = Callable[[_Context], None]


class LinkService:
    """The customer's use cases on a link. Blocking; async callers use a worker thread."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        provider: PayrollProvider,
        membership: Membership,
        settings: Settings,
        maintenance: LinkMaintenance,
        onboarding: OnboardingService,
        unlinker: Unlinker,
        notices: LinkNotices,
        clock: Clock | None = None,
    ):
        self._unit_of_work = unit_of_work
        self._provider = provider
        self._membership = membership
        self._settings = settings
        self._maintenance = maintenance
        self._onboarding = onboarding
        self._unlinker = unlinker
        self._notices = notices
        self._clock = clock or SystemClock()

    # --- relink ---------------------------------------------------------------------------

    def open_relink(self, onboarding_id: int, actor: Actor) -> Outcome:
        """The credentials form, or the relink in progress where it was left."""

        def apply(context: _Context) -> None:
            session = context.session
            if session.get("kind") == KIND_RELINK and session.get("stage") != STAGE_DONE:
                return
            context.uow.onboardings.erase_pending_token(context.onboarding)
            context.session = self._new_session(KIND_RELINK, STAGE_CREDENTIALS, context)
            context.session["username"] = context.link.account_label

        return self._run(onboarding_id, actor, apply)

    def submit_relink(self, ref: StepRef, actor: Actor, *, username: str, token: str) -> Outcome:
        """Check the new username and token; the link is updated in place when they work."""
        username, token = username.strip(), clean_token(token)
        if not username or not token:
            raise InvalidInput("username and token are both required")
        early, snapshot = self._snapshot(ref, actor, {KIND_RELINK: {STAGE_CREDENTIALS}})
        if early is not None:
            return early
        connection = Connection(account=username, secret=token)
        result = self._check(connection, snapshot.linked_ids)
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: self._apply_relink_check(context, connection, result),
            ref=ref,
            expect={KIND_RELINK: {STAGE_CREDENTIALS}},
        )

    def check_again(self, ref: StepRef, actor: Actor) -> Outcome:
        """Run the check anew: a relink with the kept token, a company change with the link's."""
        expect = {
            KIND_RELINK: {STAGE_UNAVAILABLE, STAGE_PERMISSIONS, STAGE_NO_COMPANIES, STAGE_CHOOSE},
            KIND_COMPANIES: {STAGE_UNAVAILABLE, STAGE_CHOOSE},
        }
        early, snapshot = self._snapshot(ref, actor, expect)
        if early is not None:
            return early
        if snapshot.kind == KIND_RELINK:
            if snapshot.connection is None:
                return self._run(
                    ref.onboarding_id, actor, self._back_to_credentials, ref=ref, expect=expect
                )
            result = self._check(snapshot.connection, snapshot.linked_ids)
            connection = snapshot.connection
            return self._run(
                ref.onboarding_id,
                actor,
                lambda context: self._apply_relink_check(context, connection, result),
                ref=ref,
                expect=expect,
            )
        listing = self._list(snapshot)
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: self._apply_listing(context, snapshot, listing),
            ref=ref,
            expect=expect,
        )

    # --- change companies -----------------------------------------------------------------

    def open_companies(self, onboarding_id: int, actor: Actor) -> Outcome:
        """The companies the login sees now, the linked ones ticked."""
        early, snapshot = self._snapshot(
            None, actor, None, onboarding_id=onboarding_id, kind=KIND_COMPANIES
        )
        if early is not None:
            return early
        if snapshot.status != ACTIVE:
            return self._run(onboarding_id, actor, self._relink_first)
        listing = self._list(snapshot)
        return self._run(
            onboarding_id,
            actor,
            lambda context: self._apply_listing(context, snapshot, listing, fresh=True),
        )

    def choose_companies(self, ref: StepRef, actor: Actor, company_ids: Iterable[int]) -> Outcome:
        """Keep the choice; apply it at once unless the login sees more than was chosen, which
        first asks for the over-access confirmation (and tells the account manager)."""
        chosen_ids = list(dict.fromkeys(int(company_id) for company_id in company_ids))
        if not chosen_ids:
            raise InvalidInput("choose at least one company")
        expect = {KIND_RELINK: {STAGE_CHOOSE}, KIND_COMPANIES: {STAGE_CHOOSE}}
        early, snapshot = self._snapshot(ref, actor, expect)
        if early is not None:
            return early
        if not set(chosen_ids) <= {row.id for row in snapshot.seen}:
            raise InvalidInput("a chosen company is not visible to this login")
        if snapshot.connection is None:
            return self._run(
                ref.onboarding_id, actor, self._back_to_credentials, ref=ref, expect=expect
            )
        seen_rows = {row.id: row for row in snapshot.seen}
        chosen_companies = [
            ProviderCompany(
                ref=str(i),
                number=seen_rows[i].number,
                name=seen_rows[i].name,
                guid=snapshot.known_guids.get(i),
            )
            for i in chosen_ids
        ]
        try:
            to_link = self._provider.companies_to_link(snapshot.connection, chosen_companies)
        except ProviderError as error:
            logger.info("looking up company GUIDs failed: %s", error.code)
            return self._run(
                ref.onboarding_id,
                actor,
                lambda context: self._set_stage(context, STAGE_UNAVAILABLE, chosen_ids=chosen_ids),
                ref=ref,
                expect=expect,
            )
        guids = {company_row(company).id: company.guid for company in to_link}

        def apply(context: _Context) -> None:
            seen = {row.id: row for row in _rows(context.session.get("seen", []))}
            chosen = [
                CompanyRef(id=i, number=seen[i].number, name=seen[i].name, guid=guids.get(i))
                for i in chosen_ids
            ]
            context.session["chosen_ids"] = chosen_ids
            context.session["chosen"] = [asdict(company) for company in chosen]
            found = flow.over_access(list(seen), chosen_ids)
            if found is None:
                self._apply_choice(context)
                return
            context.session["stage"] = STAGE_OVER_ACCESS
            publish(
                context.uow,
                self._notices,
                self._event(
                    context,
                    LINK_OVER_ACCESS_WARNED,
                    companies_seen=found.seen,
                    companies=_names(chosen),
                ),
            )

        return self._run(ref.onboarding_id, actor, apply, ref=ref, expect=expect)

    def confirm_companies(self, ref: StepRef, actor: Actor) -> Outcome:
        """The customer understands the login sees more than was chosen, and links anyway."""
        expect = {KIND_RELINK: {STAGE_OVER_ACCESS}, KIND_COMPANIES: {STAGE_OVER_ACCESS}}
        return self._run(ref.onboarding_id, actor, self._apply_choice, ref=ref, expect=expect)

    def back_to_choice(self, ref: StepRef, actor: Actor) -> Outcome:
        """Back from the over-access screen to the choice (after narrowing the filter)."""
        expect = {KIND_RELINK: {STAGE_OVER_ACCESS}, KIND_COMPANIES: {STAGE_OVER_ACCESS}}
        return self._run(
            ref.onboarding_id,
            actor,
            lambda context: self._set_stage(context, STAGE_CHOOSE),
            ref=ref,
            expect=expect,
        )

    def suggest_companies(self, onboarding_id: int, actor: Actor, query: str) -> list[CompanyRow]:
        """Type-ahead over the companies of the session (at least MIN_QUERY_LENGTH characters)."""
        with self._unit_of_work() as uow:
            loaded = self._load(uow, onboarding_id, actor, audit_refusal=False)
            if isinstance(loaded, Outcome):
                return []
            rows = _rows(loaded.session.get("seen", []))
        return search_companies(rows, query) if len(query.strip()) >= MIN_QUERY_LENGTH else []

    # --- stop and remove --------------------------------------------------------------------

    def stop_onboarding(self, onboarding_id: int, actor: Actor) -> StopResult:
        """The customer stops an open onboarding; the account manager is told."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            client = uow.clients.get(onboarding.client_id)
            assert client is not None
            if refusal_reason(self._membership, client, actor):
                return StopResult(REFUSED, client.language)
        try:
            status = self._onboarding.cancel(onboarding_id, actor)
        except IllegalTransition:
            return StopResult(
                ALREADY_ENDED, client.language, self._onboarding.invite_status(onboarding_id)
            )
        self._tell_manager(ONBOARDING_STOPPED_BY_CUSTOMER, onboarding_id, actor, link_id=None)
        return StopResult(STOPPED, client.language, status)

    def remove_link(self, onboarding_id: int, actor: Actor) -> StopResult:
        """The customer removes the link: token erased, audited, reported; the account manager
        is told."""
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            client = uow.clients.get(onboarding.client_id)
            assert client is not None
            if refusal_reason(self._membership, client, actor):
                return StopResult(REFUSED, client.language)
            link = uow.links.for_onboarding(onboarding_id)
            link_id = link.id if link is not None and link.revoked_at is None else None
        if link_id is None or self._unlinker.unlink(link_id, manager=actor.user_id) is None:
            return StopResult(
                ALREADY_ENDED, client.language, self._onboarding.invite_status(onboarding_id)
            )
        self._tell_manager(LINK_REMOVED_BY_CUSTOMER, onboarding_id, actor, link_id=link_id)
        return StopResult(REMOVED, client.language, self._onboarding.invite_status(onboarding_id))

    def _tell_manager(
        self, kind: str, onboarding_id: int, actor: Actor, *, link_id: int | None
    ) -> None:
        now = self._clock.now()
        with self._unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            if onboarding.started_by == actor.user_id:
                return  # the account manager did it themselves
            client = uow.clients.get(onboarding.client_id)
            assert client is not None
            event = LinkEvent(
                kind=kind,
                onboarding_id=onboarding_id,
                link_id=link_id,
                client_name=client.name,
                channel_id=client.conversation_id,
                language=client.language,
                actor=actor.user_id,
                at=now,
                manager=onboarding.started_by,
            )
            publish(uow, self._notices, event)
            uow.commit()

    # --- applying steps -------------------------------------------------------------------

    def _apply_relink_check(
        self, context: _Context, connection: Connection, result: AccountCheck | ProviderError
    ) -> None:
        uow, onboarding, session = context.uow, context.onboarding, context.session
        session.update(username=connection.account, wrong=False)
        if isinstance(result, WrongCredentials):
            uow.onboardings.erase_pending_token(onboarding)
            self._reject(context)
        elif isinstance(result, NoSubscription):
            uow.onboardings.erase_pending_token(onboarding)
            session["stage"] = STAGE_HANDOFF
        elif isinstance(result, ProviderError) and not isinstance(result, NoAccess):
            uow.onboardings.set_pending_token(onboarding, connection.secret)
            session["stage"] = STAGE_UNAVAILABLE
        else:
            check = result if isinstance(result, AccountCheck) else None
            companies = [company_row(company) for company in check.companies] if check else []
            uow.onboardings.set_pending_token(onboarding, connection.secret)
            session["domain"] = check.environment if check else context.link.environment["domain"]
            session["seen"] = [[c.id, c.number, c.name] for c in companies]
            session["guids"] = {str(c.id): c.guid for c in companies if c.guid}
            if check and check.missing_access:
                session.update(stage=STAGE_PERMISSIONS, missing=list(check.missing_access))
                return
            if not companies:
                session["stage"] = STAGE_NO_COMPANIES
                return
            visible = {company.id: company for company in companies}
            kept = [
                CompanyRef(
                    id=int(row.provider_company_ref),
                    number=visible[int(row.provider_company_ref)].number,
                    name=visible[int(row.provider_company_ref)].name,
                    guid=visible[int(row.provider_company_ref)].guid or row.guid,
                )
                for row in uow.links.companies(context.link.id or 0)
                if int(row.provider_company_ref) in visible
            ]
            if kept:
                session["chosen"] = [asdict(company) for company in kept]
                self._finish_relink(context)
            else:
                session.update(stage=STAGE_CHOOSE, chosen_ids=[])

    def _reject(self, context: _Context) -> None:
        onboarding = context.onboarding
        failures = [
            datetime.fromisoformat(moment)
            for moment in onboarding.step_data.get("failed_attempts", [])
        ]
        record = flow.register_failed_attempt(failures, context.now)
        onboarding.step_data["failed_attempts"] = [moment.isoformat() for moment in record.failures]
        if record.blocked_until is not None:
            onboarding.blocked_until = record.blocked_until
        context.session.update(stage=STAGE_CREDENTIALS, wrong=True)
        context.uow.audit.record(
            AUDIT_RELINK_REJECTED,
            actor=context.actor.user_id,
            onboarding_id=onboarding.id,
            link_id=context.link.id,
            detail={
                "username": context.session.get("username", ""),
                "blocked": record.blocked_until is not None,
            },
            at=context.now,
        )

    def _apply_listing(
        self,
        context: _Context,
        snapshot: _Snapshot,
        listing: list[ProviderCompany] | ProviderError,
        *,
        fresh: bool = False,
    ) -> None:
        if fresh:
            context.session = self._new_session(KIND_COMPANIES, STAGE_CHOOSE, context)
        session = context.session
        if isinstance(listing, ProviderError):
            problem = problem_from_error(listing)
            if problem is None:
                session["stage"] = STAGE_UNAVAILABLE
                return
            self._maintenance.mark_needs_relink(
                context.uow,
                context.link,
                problem,
                checked_token=snapshot.link_token,
                actor=context.actor.user_id,
                now=context.now,
            )
            session.update(stage=STAGE_RELINK_FIRST, reason=problem.reason)
            return
        linked = {row.id for row in snapshot.linked}
        rows = [company_row(company) for company in listing]
        session.update(
            stage=STAGE_CHOOSE,
            seen=[[c.id, c.number, c.name] for c in rows],
            guids={str(row.id): row.guid for row in snapshot.linked if row.guid},
        )
        if fresh or "chosen_ids" not in session:
            session["chosen_ids"] = [c.id for c in rows if c.id in linked]

    def _apply_choice(self, context: _Context) -> None:
        if context.session.get("kind") == KIND_RELINK:
            if context.onboarding.pending_token is None:
                self._back_to_credentials(context)
                return
            self._finish_relink(context)
        else:
            self._finish_companies(context)

    def _finish_relink(self, context: _Context) -> None:
        """Update the link in place: credentials, domain and companies; active again."""
        uow, onboarding, link, session = (
            context.uow,
            context.onboarding,
            context.link,
            context.session,
        )
        assert link.id is not None and onboarding.pending_token is not None
        notice = notice_key(link.id, (link.problem or {}).get("since", ""))
        was_broken = link.status == NEEDS_RELINK
        link.account_label = session["username"]
        link.environment = {"domain": session["domain"]}
        link.encrypted_secret = onboarding.pending_token
        link.status, link.problem, link.verified_at = ACTIVE, None, context.now
        uow.session.add(link)
        companies = [CompanyRef(**row) for row in session["chosen"]]
        _, removed = replace_companies(uow, link.id, companies)
        uow.onboardings.erase_pending_token(onboarding)
        self._keep_on_onboarding(
            context, companies, username=link.account_label, domain=link.environment["domain"]
        )
        onboarding.step_data["failed_attempts"] = []
        publish(
            uow,
            self._notices,
            self._event(
                context,
                LINK_RELINKED,
                companies=_names(companies),
                removed=_names(removed),
                companies_seen=len(session.get("seen", [])),
                notice_key=notice if was_broken else None,
                notice_ts=sent_ts(uow, notice) if was_broken else None,
            ),
        )
        self._done(context, companies, domain=link.environment["domain"])

    def _finish_companies(self, context: _Context) -> None:
        uow, link, session = context.uow, context.link, context.session
        assert link.id is not None
        companies = [CompanyRef(**row) for row in session["chosen"]]
        added, removed = replace_companies(uow, link.id, companies)
        self._keep_on_onboarding(context, companies)
        if added or removed:
            publish(
                uow,
                self._notices,
                self._event(
                    context,
                    LINK_COMPANIES_CHANGED,
                    companies=_names(companies),
                    added=_names(added),
                    removed=_names(removed),
                    companies_seen=len(session.get("seen", [])),
                ),
            )
        self._done(context, companies, domain=link.environment["domain"])

    def _keep_on_onboarding(
        self, context: _Context, companies: Sequence[CompanyRef], **values: str
    ) -> None:
        """The onboarding's own record of the link (the invite message counts its companies)."""
        data = context.onboarding.step_data
        data["chosen"] = [asdict(company) for company in companies]
        for key, value in values.items():
            data[key] = value
        context.invite_changed = True

    def _done(self, context: _Context, companies: Sequence[CompanyRef], *, domain: str) -> None:
        context.session = {
            "kind": context.session.get("kind"),
            "stage": STAGE_DONE,
            "domain": domain,
            "chosen": [asdict(company) for company in companies],
        }

    def _set_stage(self, context: _Context, stage: str, **values: Any) -> None:
        context.session.update(stage=stage, **values)

    def _back_to_credentials(self, context: _Context) -> None:
        """The kept token is gone (dropped as abandoned): ask for it again."""
        context.session.update(stage=STAGE_CREDENTIALS, wrong=False)

    def _relink_first(self, context: _Context) -> None:
        reason = (context.link.problem or {}).get("reason", REASON_WRONG_CREDENTIALS)
        context.session = self._new_session(KIND_COMPANIES, STAGE_RELINK_FIRST, context)
        context.session["reason"] = reason

    def _new_session(self, kind: str, stage: str, context: _Context) -> dict[str, Any]:
        return {"kind": kind, "stage": stage, "started_at": context.now.isoformat()}

    def _event(self, context: _Context, kind: str, **fields: Any) -> LinkEvent:
        return _link_event(
            kind,
            context.link,
            context.client,
            actor=context.actor.user_id,
            at=context.now,
            **fields,
        )

    # --- provider calls (outside transactions) ------------------------------------------------

    def _check(self, connection: Connection, linked_ids: set[int]) -> AccountCheck | ProviderError:
        try:
            return self._provider.check_account(
                connection, to_link={str(company_id) for company_id in linked_ids}
            )
        except ProviderError as error:
            logger.info("relink check ended with %s", error.code)
            return error

    def _list(self, snapshot: _Snapshot) -> list[ProviderCompany] | ProviderError:
        assert snapshot.connection is not None
        try:
            return self._provider.list_companies(snapshot.connection)
        except ProviderError as error:
            logger.info("listing companies ended with %s", error.code)
            return error

    # --- the machinery of a step --------------------------------------------------------------

    def _snapshot(
        self,
        ref: StepRef | None,
        actor: Actor,
        expect: dict[str, set[str]] | None,
        *,
        onboarding_id: int | None = None,
        kind: str | None = None,
    ) -> tuple[Outcome | None, _Snapshot]:
        """What a provider call needs, read in a short transaction; or the Outcome to answer
        with at once (refused, replayed, not possible now)."""
        with self._unit_of_work() as uow:
            loaded = self._load(uow, ref.onboarding_id if ref else onboarding_id or 0, actor)
            if isinstance(loaded, Outcome):
                return loaded, _NO_SNAPSHOT
            early = self._replay_or_refuse(loaded, ref, expect)
            if early is not None:
                return early, _NO_SNAPSHOT
            if loaded.link.revoked_at is not None:
                return self._outcome(loaded), _NO_SNAPSHOT
            return None, self._read_snapshot(loaded, kind or loaded.session.get("kind"))

    def _read_snapshot(self, context: _Context, kind: str | None) -> _Snapshot:
        """The connection to call with: a relink's kept token, else the link's own."""
        uow, link, session = context.uow, context.link, context.session
        linked = tuple(
            CompanyRow(
                id=int(row.provider_company_ref), number=row.number, name=row.name, guid=row.guid
            )
            for row in uow.links.companies(link.id or 0)
        )
        connection = None
        if kind == KIND_RELINK:
            pending = uow.onboardings.pending_token(context.onboarding)
            if pending is not None:
                connection = Connection(
                    account=session.get("username", ""),
                    secret=pending,
                    environment=session.get("domain", link.environment["domain"]),
                )
        else:
            token = uow.links.token(link)
            if token:
                connection = Connection(
                    account=link.account_label, secret=token, environment=link.environment["domain"]
                )
        guids = {int(key): guid for key, guid in (session.get("guids") or {}).items() if guid}
        return _Snapshot(
            kind=kind,
            status=link.status,
            connection=connection,
            link_token=link.encrypted_secret or b"",
            linked=linked,
            seen=_rows(session.get("seen", [])),
            known_guids=guids,
        )

    def _run(
        self,
        onboarding_id: int,
        actor: Actor,
        apply: Apply,
        *,
        ref: StepRef | None = None,
        expect: dict[str, set[str]] | None = None,
    ) -> Outcome:
        """Apply one step in one transaction, re-running it when another commit won a race."""
        for attempt in range(3):
            try:
                with self._unit_of_work() as uow:
                    loaded = self._load(uow, onboarding_id, actor)
                    if isinstance(loaded, Outcome):
                        return loaded
                    early = self._replay_or_refuse(loaded, ref, expect)
                    if early is not None:
                        return early
                    if loaded.link.revoked_at is not None:
                        return self._outcome(loaded)
                    apply(loaded)
                    data = loaded.onboarding.step_data
                    data[SESSION_KEY] = loaded.session
                    data[STEP_KEY] = data.get(STEP_KEY, 0) + 1
                    loaded.onboarding.updated_at = loaded.now
                    uow.commit()
                    outcome = self._outcome(loaded)
                break
            except StaleUpdate:
                logger.info("onboarding %s changed meanwhile; re-running the step", onboarding_id)
                if attempt == 2:
                    raise
        if loaded.invite_changed:
            return Outcome(
                screen=outcome.screen,
                language=outcome.language,
                client_name=outcome.client_name,
                ref=outcome.ref,
                invite=self._onboarding.invite_status(onboarding_id),
            )
        return outcome

    def _load(
        self, uow: SqlUnitOfWork, onboarding_id: int, actor: Actor, *, audit_refusal: bool = True
    ) -> _Context | Outcome:
        language = self._settings.default_language
        onboarding = uow.onboardings.get(onboarding_id)
        link = uow.links.for_onboarding(onboarding_id) if onboarding is not None else None
        if onboarding is None or link is None:
            return Outcome(screen=ErrorScreen("not_found"), language=language)
        client = uow.clients.get(onboarding.client_id)
        assert client is not None
        reason = refusal_reason(self._membership, client, actor)
        if reason is not None:
            logger.info(
                "refused %s on the link of onboarding %s: %s", actor.user_id, onboarding_id, reason
            )
            if audit_refusal:
                uow.audit.record(
                    AUDIT_ACCESS_REFUSED,
                    actor=actor.user_id,
                    onboarding_id=onboarding_id,
                    link_id=link.id,
                    detail={"reason": reason, "user_team_id": actor.team_id},
                )
                uow.commit()
            return Outcome(screen=RefusedScreen(), language=client.language)
        session = dict(onboarding.step_data.get(SESSION_KEY) or {})
        return _Context(uow, onboarding, client, link, actor, self._clock.now(), session)

    def _replay_or_refuse(
        self, context: _Context, ref: StepRef | None, expect: dict[str, set[str]] | None
    ) -> Outcome | None:
        """None when the step may be applied now; else the Outcome to answer with."""
        if ref is None:
            return None
        if ref.step != context.onboarding.step_data.get(STEP_KEY, 0):
            return self._outcome(context, notice=NOTICE_ALREADY_DONE)
        session = context.session
        stages = (expect or {}).get(session.get("kind", ""), set())
        if session.get("stage") in stages and not flow.is_blocked(
            context.onboarding.blocked_until, context.now
        ):
            return None
        return self._outcome(context)

    def _outcome(self, context: _Context, *, notice: str | None = None) -> Outcome:
        onboarding = context.onboarding
        return Outcome(
            screen=link_screen(
                onboarding,
                context.link,
                settings=self._settings,
                now=context.now,
                provider=self._provider,
            ),
            language=context.client.language,
            client_name=context.client.name,
            ref=StepRef(
                onboarding_id=onboarding.id or 0, step=onboarding.step_data.get(STEP_KEY, 0)
            ),
            notice=notice,
        )


@dataclass(frozen=True)
class _Snapshot:
    kind: str | None
    status: str
    connection: Connection | None
    link_token: bytes
    linked: tuple[CompanyRow, ...]
    seen: tuple[CompanyRow, ...]
    known_guids: dict[int, str]

    @property
    def linked_ids(self) -> set[int]:
        return {row.id for row in self.linked}


_NO_SNAPSHOT = _Snapshot(None, "", None, b"", (), (), {})


def _rows(seen: Sequence[Sequence[Any]]) -> tuple[CompanyRow, ...]:
    return tuple(CompanyRow(id=i, number=number, name=name) for i, number, name in seen)


LinkScreen = Screen | RelinkFirstScreen | StaleScreen


def link_screen(
    onboarding: Onboarding,
    link: PayrollLink,
    *,
    settings: Settings,
    now: datetime,
    provider: PayrollProvider,
) -> LinkScreen:
    """The screen of a relink or company change, from the stored session alone; the provider
    only describes the access it requires."""
    if link.revoked_at is not None:
        return EndedScreen(state=State.UNLINKED)
    data = onboarding.step_data
    session = data.get(SESSION_KEY) or {}
    stage = session.get("stage")
    if stage in (STAGE_CREDENTIALS, STAGE_UNAVAILABLE) and flow.is_blocked(
        onboarding.blocked_until, now
    ):
        return BlockedScreen(until=onboarding.blocked_until)
    seen = _rows(session.get("seen", []))
    chosen = tuple(CompanyRow(**row) for row in session.get("chosen", []))
    if stage == STAGE_CREDENTIALS:
        failures = len(data.get("failed_attempts", []))
        return CredentialsScreen(
            username=session.get("username") or link.account_label,
            wrong_credentials=bool(session.get("wrong")),
            attempts_left=flow.MAX_FAILED_ATTEMPTS - failures,
        )
    if stage == STAGE_UNAVAILABLE:
        return UnavailableScreen()
    if stage == STAGE_PERMISSIONS:
        return PermissionsScreen(missing=provider.describe_access(session.get("missing", [])))
    if stage == STAGE_NO_COMPANIES:
        return NoCompaniesScreen(username=session.get("username", link.account_label))
    if stage == STAGE_CHOOSE:
        by_id = {row.id: row for row in seen}
        preselected = tuple(by_id[i] for i in session.get("chosen_ids", []) if i in by_id)
        return CompanyChoiceScreen(companies=seen, preselected=preselected)
    if stage == STAGE_OVER_ACCESS:
        chosen_ids = {row.id for row in chosen}
        return OverAccessScreen(
            seen=len(seen),
            chosen=chosen,
            not_chosen=tuple(r for r in seen if r.id not in chosen_ids),
        )
    if stage == STAGE_HANDOFF:
        return HandoffScreen(reason="no_subscription", support_phone=settings.support_phone)
    if stage == STAGE_RELINK_FIRST:
        return RelinkFirstScreen(reason=session.get("reason", REASON_WRONG_CREDENTIALS))
    if stage == STAGE_DONE:
        return CompletedScreen(
            companies=chosen, domain=session.get("domain", link.environment["domain"])
        )
    return StaleScreen()
