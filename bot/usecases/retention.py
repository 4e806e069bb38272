"""The retention job, run hourly. What it keeps and for how long is the README's "Personal data
(AVG/GDPR)":

- An onboarding that ended without a live link (cancelled, expired, handed off, unlinked) or
  whose link was unlinked never holds a kept token or a relink or company session: the step
  that ends it erases them, and this job erases any it finds at once (rows written before every
  path did).
- RETENTION_DAYS after such an onboarding ended, its step data (usernames, domain, the companies
  seen and chosen, drafts) is erased down to its step counters, the Nmbrs usernames leave its
  audit entries, an unlinked link loses its username, its companies and its problem, and the
  client its contact person. The audit trail itself stays (what happened, the chat user id,
  when; never a secret), as do the terms acceptances.
- Relink and company sessions a customer abandoned are dropped after a day
  (`bot.core.link_flow.SESSION_LIFETIME`), kept token included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core import link_flow
from bot.core.flow import State
from bot.core.progress import KEPT_AFTER_ERASURE, OnboardingProgress
from storage.links import (
    ended_onboardings_not_erased,
    ended_onboardings_to_erase,
    erase_unlinked_details,
    forget_contact_once_erased,
    onboardings_with_link_sessions,
)
from storage.models import Onboarding
from storage.repository import SqlUnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

SYSTEM = "system"
AUDIT_DATA_ERASED = "onboarding_data_erased"
AUDIT_SESSION_DROPPED = "link_session_dropped"
AUDIT_SECRETS_ERASED = "ended_onboarding_secrets_erased"

# Onboardings that ended without a live link: their data is erased RETENTION_DAYS after.
ERASED_STATES = frozenset(
    {State.CANCELLED.value, State.EXPIRED.value, State.HANDOFF.value, State.UNLINKED.value}
)


@dataclass(frozen=True)
class ErasureResult:
    onboardings: int
    sessions: int
    # Ended onboardings found still holding a kept token or a session (erased at once).
    leftovers: int = 0


def erase_ended_data(
    unit_of_work: UnitOfWorkFactory, *, now: datetime, retention_days: int
) -> ErasureResult:
    """Erase what ended onboardings still hold (see the module docstring), in one
    transaction."""
    ended_before = now - timedelta(days=retention_days)
    with unit_of_work() as uow:
        leftovers = sum(
            _erase_leftover_secrets(uow, onboarding, now)
            for onboarding in ended_onboardings_not_erased(uow, states=ERASED_STATES)
        )
        erased = 0
        for onboarding in ended_onboardings_to_erase(
            uow, states=ERASED_STATES, ended_before=ended_before
        ):
            _erase(uow, onboarding, now)
            erased += 1
        dropped = 0
        for onboarding in onboardings_with_link_sessions(uow):
            progress = OnboardingProgress.from_json(onboarding.step_data)
            session = progress.link_session
            if session is None or not link_flow.is_abandoned(session, now):
                continue
            progress.link_session = None
            onboarding.step_data = progress.to_json()
            uow.onboardings.erase_pending_token(onboarding)
            uow.audit.record(
                AUDIT_SESSION_DROPPED,
                actor=SYSTEM,
                onboarding_id=onboarding.id,
                detail={"kind": session.kind, "stage": session.stage},
                at=now,
            )
            dropped += 1
        # Consents started but never called back, and used ones: nothing of a consent lingers.
        uow.consents.erase_expired(now)
        uow.commit()
    if erased or dropped or leftovers:
        logger.info(
            "retention: erased %s onboardings, dropped %s sessions, %s leftover secrets",
            erased,
            dropped,
            leftovers,
        )
    return ErasureResult(onboardings=erased, sessions=dropped, leftovers=leftovers)


def _erase_leftover_secrets(uow: SqlUnitOfWork, onboarding: Onboarding, now: datetime) -> bool:
    """Erase a kept token or session an ended onboarding should not hold; whether it held
    one."""
    progress = OnboardingProgress.from_json(onboarding.step_data)
    if onboarding.pending_token is None and progress.link_session is None:
        return False
    uow.onboardings.erase_pending_token(onboarding)
    progress.link_session = None
    onboarding.step_data = progress.to_json()
    uow.audit.record(
        AUDIT_SECRETS_ERASED, actor=SYSTEM, onboarding_id=onboarding.id, detail={}, at=now
    )
    return True


def _erase(uow: SqlUnitOfWork, onboarding: Onboarding, now: datetime) -> None:
    """Erase an ended onboarding's data, the usernames in its audit trail, its client's contact
    and, if unlinked, what its link said about the Nmbrs account."""
    assert onboarding.id is not None
    data = onboarding.step_data
    uow.onboardings.erase_pending_token(onboarding)
    uow.consents.erase_for_onboarding(onboarding.id)
    onboarding.step_data = OnboardingProgress.from_json(data).erased().to_json()
    onboarding.data_erased_at = now
    link = uow.links.for_onboarding(onboarding.id)
    if link is not None and link.revoked_at is not None:
        erase_unlinked_details(uow, link)
    scrubbed = uow.audit.forget_usernames(onboarding.id)
    uow.flush()
    forget_contact_once_erased(uow, onboarding.client_id)
    uow.audit.record(
        AUDIT_DATA_ERASED,
        actor=SYSTEM,
        onboarding_id=onboarding.id,
        detail={
            "state": onboarding.state,
            "erased": sorted(key for key in data if key not in KEPT_AFTER_ERASURE),
            "link": link is not None and link.revoked_at is not None,
            "audit_entries": scrubbed,
        },
        at=now,
    )
