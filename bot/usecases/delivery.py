"""Halting and resuming delivery, and the outbox's retention (`DeliveryControl`): the chat tool
took our access away, or gave it back; sent messages are pruned after OUTBOX_RETENTION_DAYS.

A halt is recorded when the chat tool says our own installation was removed or its token revoked
(the transport decides whether an event is about us). It lasts across restarts, as a row, until
it is lifted: by a good check of the bot's token (`token_confirmed`, after a reinstall) or by
hand (`resume`, `onboard-bot outbox resume`). Each change is one transaction with its audit row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.outbox import Halt, delivery_halt, halt_delivery, lift_halts, prune_sent
from storage.repository import UnitOfWorkFactory

logger = logging.getLogger(__name__)

RESUMED = "delivery_resumed"


class DeliveryControl:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, retention_days: int = 14):
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._retention = timedelta(days=retention_days)

    def prune(self, due_at: datetime) -> int:
        """The retention job: remove what was sent more than the retention period before
        `due_at`, in one transaction; returns the rows pruned."""
        with self._unit_of_work() as uow:
            pruned = prune_sent(uow.session, sent_before=due_at - self._retention)
            uow.commit()
        if pruned:
            logger.info("pruned %s sent outbox messages", pruned)
        return pruned

    def halt(self, *, team_id: str, reason: str) -> None:
        """Our access was taken away (app_uninstalled, tokens_revoked): record it and stop
        every message from now on."""
        now = self._clock.now()
        with self._unit_of_work() as uow:
            halt_delivery(uow.session, team_id=team_id, reason=reason, now=now)
            uow.audit.record(reason, actor="slack", detail={"team_id": team_id}, at=now)
            uow.commit()
        logger.warning("Slack reported %s for team %s: all sending stopped", reason, team_id)

    def status(self) -> Halt | None:
        """The halt in force, or None when messages go out."""
        with self._unit_of_work() as uow:
            return delivery_halt(uow.session)

    def resume(self, *, actor: str) -> list[Halt]:
        """Lift every halt by hand; returns what was lifted (nothing when none was in force)."""
        return self._lift(actor=actor, recorded_before=None)

    def token_confirmed(self, *, team_id: str, asked_at: datetime) -> list[Halt]:
        """The bot's token worked for `team_id` when asked at `asked_at` (after a reinstall, or
        a token that was never revoked): lift the halts recorded before that moment. A halt
        recorded after it stands, since the token may have been revoked in between."""
        return self._lift(actor=f"token check ({team_id})", recorded_before=asked_at)

    def _lift(self, *, actor: str, recorded_before: datetime | None) -> list[Halt]:
        now = self._clock.now()
        with self._unit_of_work() as uow:
            lifted = lift_halts(uow.session, recorded_before=recorded_before)
            if not lifted:
                return []
            uow.audit.record(
                RESUMED,
                actor=actor,
                detail={
                    "halts": [
                        {"team_id": h.team_id, "reason": h.reason, "since": h.since.isoformat()}
                        for h in lifted
                    ]
                },
                at=now,
            )
            uow.commit()
        first = lifted[0]
        logger.warning(
            "delivery resumed by %s: lifted the halt since %s (%s for team %s)",
            actor,
            first.since.isoformat(),
            first.reason,
            first.team_id,
        )
        return lifted
