"""Verification of links, run without a person: `verify(link_id)` / `verify_all()` re-run the
credential and permission check of a link against the payroll provider, and mark a link whose
token was revoked, whose permissions were switched off or whose chosen companies are no longer
visible as needs_relink: reported once (status channel, and the client's channel with a relink
button), since only the verification that moves the link reports it. Links are verified one
after another through the one shared provider, whose per-account rate limiter keeps every Nmbrs
account within its fair-use limit, whatever else is calling it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.clock import Clock, SystemClock
from bot.core import link_flow
from bot.core.events import LinkNeedsRelink, LinkRecovered
from bot.core.link_flow import (
    REASON_COMPANIES_GONE,
    REASON_INVALID_DOMAIN,
    REASON_NO_ACCESS,
    REASON_NO_SUBSCRIPTION,
    REASON_PERMISSIONS_MISSING,
    REASON_WRONG_CREDENTIALS,
    LinkMove,
    LinkStatus,
)
from bot.core.model import Company
from bot.core.payroll import (
    AccountCheck,
    Connection,
    InvalidDomain,
    NoAccess,
    NoSubscription,
    PayrollProvider,
    PermissionsMissing,
    ProviderError,
    WrongCredentials,
)
from bot.ports import LinkNotices
from bot.settings import Settings
from bot.usecases.link_notices import link_event, names, notice_key, publish_link_event, sent_ts
from bot.usecases.retention import ErasureResult, erase_ended_data
from storage.links import change_status, client_of, linked_ids, mark_verified
from storage.models import LinkedCompany, PayrollLink
from storage.repository import NotFound, SqlUnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

SYSTEM = "system"

# What became of one verification.
VERIFIED = "ok"
MARKED = "needs_relink"
RECOVERED = "recovered"
UNAVAILABLE = "unavailable"
SKIPPED = "skipped"  # unlinked, or relinked while the check ran

AUDIT_VERIFIED = "link_verified"
AUDIT_CHECK_FAILED = "link_check_failed"


@dataclass(frozen=True)
class Problem:
    """Why a link needs relinking (no secrets: reasons, permission and company names)."""

    reason: str
    missing_permissions: tuple[str, ...] = ()
    companies_gone: tuple[Company, ...] = ()

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
        Company(id=row.provider_company_ref, number=row.number, name=row.name, guid=row.guid)
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
                reported = mark_needs_relink(
                    uow,
                    self._notices,
                    link,
                    problem,
                    checked_token=checked_token,
                    actor=actor,
                    now=now,
                )
                uow.commit()
                return VerifyResult(link_id, client_name, MARKED, problem.reason, reported)
            uow.audit.record(
                AUDIT_VERIFIED, actor=actor, onboarding_id=link.onboarding_id, link_id=link_id
            )
            if status == LinkStatus.NEEDS_RELINK:
                recovered = self._recover(uow, link, checked_token=checked_token, actor=actor)
                uow.commit()
                return VerifyResult(link_id, client_name, RECOVERED, reported=recovered)
            mark_verified(uow, link_id, expected_token=checked_token, at=now)
            uow.commit()
            return VerifyResult(link_id, client_name, VERIFIED)

    def _recover(
        self, uow: SqlUnitOfWork, link: PayrollLink, *, checked_token: bytes, actor: str
    ) -> bool:
        assert link.id is not None
        now = self._clock.now()
        key = notice_key(link.id, (link.problem or {}).get("since", ""))
        moved = change_status(
            uow,
            link.id,
            expected_status=LinkStatus.NEEDS_RELINK,
            expected_token=checked_token,
            status=link_flow.next_status(LinkStatus.NEEDS_RELINK, LinkMove.RECOVER),
            problem=None,
            verified_at=now,
        )
        if moved:
            event = link_event(
                LinkRecovered,
                link,
                client_of(uow, link),
                actor=actor,
                at=now,
                notice_key=key,
                notice_ts=sent_ts(uow, key),
            )
            publish_link_event(uow, self._notices, event)
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
        """The retention job (see `bot.usecases.retention`)."""
        return erase_ended_data(
            self._unit_of_work, now=self._clock.now(), retention_days=self._settings.retention_days
        )


def mark_needs_relink(
    uow: SqlUnitOfWork,
    notices: LinkNotices,
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
        expected_status=LinkStatus.ACTIVE,
        expected_token=checked_token,
        status=link_flow.next_status(LinkStatus.ACTIVE, LinkMove.MARK),
        problem=problem.as_json(now),
    )
    if not moved:
        marked_since = (link.problem or {}).get("since", since)
        change_status(
            uow,
            link.id,
            expected_status=LinkStatus.NEEDS_RELINK,
            expected_token=checked_token,
            status=link_flow.next_status(LinkStatus.NEEDS_RELINK, LinkMove.REMARK),
            problem={**problem.as_json(now), "since": marked_since},
        )
        return False
    client = client_of(uow, link)
    publish_link_event(
        uow,
        notices,
        link_event(
            LinkNeedsRelink,
            link,
            client,
            actor=actor,
            at=now,
            reason=problem.reason,
            missing_permissions=problem.missing_permissions,
            companies_gone=names(problem.companies_gone),
            notice_key=notice_key(link.id, since),
        ),
    )
    return True
