"""Why a link needs relinking, and marking it so in the caller's transaction (reported once):
shared by the verification, the company change and the keeping of REST grants."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.core import link_flow
from bot.core.events import LinkNeedsRelink
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
    InvalidDomain,
    NoAccess,
    NoSubscription,
    PermissionsMissing,
    ProviderError,
    WrongCredentials,
)
from bot.ports import LinkNotices
from bot.usecases.link_notices import link_event, names, notice_key, publish_link_event
from storage.links import change_status, client_of
from storage.models import LinkedCompany, PayrollLink
from storage.repository import SqlUnitOfWork


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
