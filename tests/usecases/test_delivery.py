"""Halting and resuming delivery on real storage: a halt is recorded with its audit row, lasts
across restarts, and is lifted by hand or by a good check of the token asked after it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.outbox import Halt
from bot.usecases.delivery import DeliveryControl
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine, upgrade
from storage.models import AuditEvent
from storage.repository import unit_of_work_factory

HALTED_AT = datetime(2026, 11, 30, 22, 15, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = HALTED_AT

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def control(engine: Engine, clock: Clock) -> DeliveryControl:
    """What one process builds; a new one is a restart."""
    return DeliveryControl(
        unit_of_work=unit_of_work_factory(engine, TokenCipher([generate_key()])), clock=clock
    )


def audit(engine: Engine, kind: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.kind == kind)))


def test_an_uninstall_stops_all_sending_and_is_recorded(engine: Engine, clock: Clock) -> None:
    control(engine, clock).halt(team_id="T0OURS", reason="app_uninstalled")

    assert control(engine, clock).status() == Halt("T0OURS", "app_uninstalled", HALTED_AT)
    [event] = audit(engine, "app_uninstalled")
    assert (event.actor, event.detail) == ("slack", {"team_id": "T0OURS"})


def test_a_halt_stays_across_a_restart_until_it_is_resumed(engine: Engine, clock: Clock) -> None:
    control(engine, clock).halt(team_id="T0OURS", reason="tokens_revoked")
    clock.moment += timedelta(days=2)
    restarted = control(engine, clock)
    assert restarted.status() is not None

    lifted = restarted.resume(actor="cli")

    assert lifted == [Halt("T0OURS", "tokens_revoked", HALTED_AT)]
    assert control(engine, clock).status() is None
    [event] = audit(engine, "delivery_resumed")
    assert event.actor == "cli"
    assert event.detail == {
        "halts": [{"team_id": "T0OURS", "reason": "tokens_revoked", "since": HALTED_AT.isoformat()}]
    }


def test_resuming_when_nothing_is_halted_changes_nothing(engine: Engine, clock: Clock) -> None:
    assert control(engine, clock).resume(actor="cli") == []
    assert audit(engine, "delivery_resumed") == []


def test_a_good_token_check_lifts_only_the_halts_recorded_before_it_asked(
    engine: Engine, clock: Clock
) -> None:
    delivery = control(engine, clock)
    delivery.halt(team_id="T0OURS", reason="app_uninstalled")
    asked_at = clock.moment + timedelta(minutes=1)
    clock.moment += timedelta(minutes=2)
    # Revoked again while the question was on its way: that halt stands.
    delivery.halt(team_id="T0OURS", reason="tokens_revoked")

    lifted = delivery.token_confirmed(team_id="T0OURS", asked_at=asked_at)

    assert [halt.reason for halt in lifted] == ["app_uninstalled"]
    assert delivery.status() == Halt("T0OURS", "tokens_revoked", clock.moment)
    assert [event.actor for event in audit(engine, "delivery_resumed")] == ["token check (T0OURS)"]
