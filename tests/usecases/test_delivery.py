"""Halting and resuming delivery on real storage: a halt is recorded with its audit row, lasts
across restarts, and is lifted by hand or by a good check of the token asked after it. The
outbox's retention: sent messages pruned after the period, in one transaction, by the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clock import WorkingCalendar
from bot.core.notices import Notice
from bot.outbox import Halt, enqueue, enqueue_once
from bot.schedule import Scheduler
from bot.usecases.delivery import DeliveryControl
from bot.usecases.scheduled import outbox_jobs
from storage.crypto import TokenCipher, generate_key
from storage.models import AuditEvent, OutboxMessage
from storage.repository import unit_of_work_factory
from tests.usecases.fakes import counting_commits

HALTED_AT = datetime(2026, 11, 30, 22, 15, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = HALTED_AT

    def now(self) -> datetime:
        return self.moment


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


# --- the outbox's retention ---------------------------------------------------------------------

DUE = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # 03:00 in Amsterdam


def outbox_row(engine: Engine, text: str, *, status: str, days_before_due: float, **more) -> None:
    at = DUE - timedelta(days=days_before_due)
    notice = Notice(kind="report.test", recipient="C0STATUS", language="nl", values={"t": text})
    with Session(engine) as session:
        row = enqueue(session, notice, now=at)
        row.status = status
        row.sent_at = at if status == "sent" else None
        for name, value in more.items():
            setattr(row, name, value)
        session.commit()


def outbox(engine: Engine) -> list[tuple[str, str, dict]]:
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(row.kind, row.status, row.notice.get("values", {})) for row in rows]


def test_sent_messages_are_pruned_after_the_retention_period_in_one_transaction(
    engine: Engine, clock: Clock
) -> None:
    outbox_row(engine, "oud", status="sent", days_before_due=14.01)
    outbox_row(engine, "recent", status="sent", days_before_due=13.99)
    outbox_row(engine, "wacht nog", status="pending", days_before_due=30)
    outbox_row(engine, "mislukt", status="failed", days_before_due=30)
    unit_of_work, commits = counting_commits(
        unit_of_work_factory(engine, TokenCipher([generate_key()]))
    )
    delivery = DeliveryControl(unit_of_work=unit_of_work, clock=clock, retention_days=14)

    assert delivery.prune(DUE) == 1

    assert [values["t"] for _kind, _status, values in outbox(engine)] == [
        "recent",
        "wacht nog",
        "mislukt",
    ]
    assert commits == [1]


def test_a_pruned_message_with_a_dedupe_key_keeps_its_key_and_message_but_not_its_content(
    engine: Engine, clock: Clock
) -> None:
    outbox_row(
        engine,
        "herinnering",
        status="sent",
        days_before_due=20,
        dedupe_key="n:1",
        message_ref="1.5",
    )

    assert control(engine, clock).prune(DUE) == 1
    assert control(engine, clock).prune(DUE) == 0

    assert outbox(engine) == [("pruned", "sent", {})]
    with Session(engine) as session:
        again = Notice(kind="nudge", recipient="C0SHARED", language="nl", dedupe_key="n:1")
        assert enqueue_once(session, again, now=DUE) is None
        [row] = session.exec(select(OutboxMessage))
        assert row.message_ref == "1.5"


async def test_the_scheduler_prunes_the_outbox_daily_at_three(engine: Engine, clock: Clock) -> None:
    outbox_row(engine, "oud", status="sent", days_before_due=15)
    clock.moment = DUE + timedelta(minutes=5)
    jobs = outbox_jobs(control(engine, clock), calendar=WorkingCalendar("Europe/Amsterdam"))
    scheduler = Scheduler(engine, clock, jobs, poll_seconds=1)

    assert await scheduler.run_due() == ["prune_outbox"]
    assert outbox(engine) == []
    assert await scheduler.run_due() == []
