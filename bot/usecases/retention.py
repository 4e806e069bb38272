"""The retention job: the data of cancelled and expired onboardings (step data with usernames
and company lists, any pending token) is erased RETENTION_DAYS after they ended; their audit
trail stays (it never held secrets). Relink and company sessions a customer abandoned are
dropped after a day (`bot.core.link_flow.SESSION_LIFETIME`), kept token included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core import link_flow
from bot.core.flow import State
from bot.core.progress import KEPT_AFTER_ERASURE, OnboardingProgress
from storage.links import ended_onboardings_to_erase, onboardings_with_link_sessions
from storage.repository import UnitOfWorkFactory

logger = logging.getLogger(__name__)

SYSTEM = "system"
AUDIT_DATA_ERASED = "onboarding_data_erased"
AUDIT_SESSION_DROPPED = "link_session_dropped"

# Onboardings whose data the retention job erases.
ERASED_STATES = frozenset({State.CANCELLED.value, State.EXPIRED.value})


@dataclass(frozen=True)
class ErasureResult:
    onboardings: int
    sessions: int


def erase_ended_data(
    unit_of_work: UnitOfWorkFactory, *, now: datetime, retention_days: int
) -> ErasureResult:
    """Erase what cancelled and expired onboardings held, RETENTION_DAYS after they ended,
    and drop relink and company sessions abandoned for SESSION_LIFETIME."""
    ended_before = now - timedelta(days=retention_days)
    with unit_of_work() as uow:
        erased = 0
        for onboarding in ended_onboardings_to_erase(
            uow, states=ERASED_STATES, ended_before=ended_before
        ):
            data = onboarding.step_data
            uow.onboardings.erase_pending_token(onboarding)
            onboarding.step_data = OnboardingProgress.from_json(data).erased().to_json()
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
        uow.commit()
    if erased or dropped:
        logger.info("retention: erased %s onboardings, dropped %s sessions", erased, dropped)
    return ErasureResult(onboardings=erased, sessions=dropped)
