"""Verification of links, run without a person: `verify(link_id)` / `verify_all()` re-run the
credential and permission check of a link against the payroll provider, and mark a link whose
token was revoked, whose permissions were switched off or whose chosen companies are no longer
visible as needs_relink: reported once (status channel, and the client's channel with a relink
button), since only the verification that moves the link reports it. Links are verified one
after another, each through the provider it names (shared, whose per-account rate limiter keeps
every Nmbrs account within its fair-use limit, whatever else is calling it); a REST link's
access token is refreshed first when it is about to expire (`bot.usecases.grants`).
`renew_grants()` is the daily renewal of REST grants, each verified after its refresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock, SystemClock
from bot.core import link_flow
from bot.core.events import LinkRecovered
from bot.core.link_flow import REASON_SOAP_ENDED, REASON_WRONG_CREDENTIALS, LinkMove, LinkStatus
from bot.core.payroll import ConsentProvider, ProviderError
from bot.ports import LinkNotices
from bot.settings import Settings
from bot.usecases.grants import RENEW_AFTER, GrantKeeper, GrantRefused, grant_refused
from bot.usecases.link_notices import link_event, notice_key, publish_link_event, sent_ts
from bot.usecases.link_problems import (  # noqa: F401 (the link use cases import them from here)
    Problem,
    diagnose,
    mark_needs_relink,
    problem_from_error,
)
from bot.usecases.providers import Providers
from bot.usecases.retention import ErasureResult, erase_ended_data
from storage.links import (
    LinkNotActive,
    change_status,
    client_of,
    grants_due_for_renewal,
    linked_ids,
    mark_verified,
)
from storage.models import PayrollLink
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
        providers: Providers,
        notices: LinkNotices,
        settings: Settings,
        clock: Clock | None = None,
    ):
        self._unit_of_work = unit_of_work
        # Every provider by name: each link is verified through the one it names.
        self._providers = providers
        self._notices = notices
        self._settings = settings
        self._clock = clock or SystemClock()
        self.grants = GrantKeeper(
            unit_of_work=unit_of_work, providers=providers, notices=notices, clock=self._clock
        )

    def renew_grants(self, *, actor: str = SYSTEM) -> list[VerifyResult]:
        """The daily renewal: every active link of a consent provider (REST) whose grant was
        last renewed more than RENEW_AFTER ago is refreshed, then verified with the fresh
        token. A refused grant (invalid_grant) makes the link need relinking, reported once."""
        cutoff = self._clock.now() - RENEW_AFTER
        results = []
        for name, provider in self._providers.available.items():
            if not isinstance(provider, ConsentProvider):
                continue
            with self._unit_of_work() as uow:
                due = grants_due_for_renewal(uow, provider=name, renewed_before=cutoff)
            for link_id in due:
                try:
                    results.append(self._renew(link_id, cutoff, actor=actor))
                except NotFound:
                    continue
                except Exception:
                    logger.exception("renewing the grant of link %s failed", link_id)
        return results

    def _renew(self, link_id: int, cutoff: datetime, *, actor: str) -> VerifyResult:
        try:
            self.grants.renew(link_id, renewed_before=cutoff)
        except GrantRefused as refused:
            with self._unit_of_work() as uow:
                client_name = client_of(uow, uow.links.require(link_id)).name
            return VerifyResult(
                link_id, client_name, MARKED, REASON_WRONG_CREDENTIALS, refused.reported
            )
        except LinkNotActive:
            with self._unit_of_work() as uow:
                client_name = client_of(uow, uow.links.require(link_id)).name
            return VerifyResult(link_id, client_name, SKIPPED, "changed")
        except ProviderError as error:
            with self._unit_of_work() as uow:
                client_name = client_of(uow, uow.links.require(link_id)).name
            return self._record_unavailable(link_id, client_name, error, actor)
        return self.verify(link_id, actor=actor)

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
            if (link.problem or {}).get("reason") == REASON_SOAP_ENDED:
                # Only a relink by consent (to the REST API) makes it work again.
                return VerifyResult(link_id, client_name, SKIPPED, REASON_SOAP_ENDED)
            if grant_refused(link) and isinstance(
                self._providers.get(link.provider), ConsentProvider
            ):
                # Its grant is dead: only a new consent (relink) brings it back.
                return VerifyResult(link_id, client_name, SKIPPED, REASON_WRONG_CREDENTIALS)
            linked = uow.links.companies(link_id)
            status = link.status
        try:
            # A grant's access token is refreshed first when it is about to expire.
            current = self.grants.connection(link_id, needing_relink_too=True)
        except GrantRefused as refused:
            return VerifyResult(
                link_id, client_name, MARKED, REASON_WRONG_CREDENTIALS, refused.reported
            )
        except LinkNotActive:
            return VerifyResult(link_id, client_name, SKIPPED, "changed")
        except ProviderError as error:
            return self._record_unavailable(link_id, client_name, error, actor)
        checked_token = current.checked_token
        try:
            check = current.provider.check_account(current.connection)
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
