"""What one poll of the outbox worker costs the process it runs in (`serve`'s use-case process,
beside the use cases): a claim of the due rows, timed in wall time and in this process's CPU
time (the share that holds the GIL; the rest is the database's), on SQLite and PostgreSQL.

- baseline: an empty outbox;
- paced: 300 reports wait for one status channel that was just posted to (nothing is due);
- due: 20 channels with a report each, claimed (and given back before the next poll).

    .venv/bin/python -m benchmarks.outbox_poll [--polls 300] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session

from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    fresh_database,
    fresh_sqlite_database,
    load_average,
    machine_summary,
    percentile,
)
from bot.outbox import SENT, OutboxWorker
from storage.db import make_engine
from storage.models import OutboxMessage

POLLS = 300
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PACED_ROWS = 300
DUE_CHANNELS = 20


class FixedClock:
    def now(self) -> datetime:
        return NOW


class SlackRows:
    """The worker's deliverer, of which a claim needs only the transport."""

    transport = "slack"


def report(recipient: str, **fields: object) -> OutboxMessage:
    return OutboxMessage(
        kind="report.terms_accepted",
        recipient=recipient,
        notice={"language": "nl", "values": {"client": "Bakkerij Jansen"}},
        available_at=NOW - timedelta(seconds=5),
        created_at=NOW - timedelta(seconds=5),
        **fields,
    )


def timed(poll: Callable[[], object], polls: int) -> tuple[float, float]:
    """p50 wall time and mean CPU time of a poll, in ms."""
    for _ in range(10):
        poll()
    walls = []
    cpu_started = time.process_time()
    for _ in range(polls):
        started = time.perf_counter()
        poll()
        walls.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu_started) / polls
    return percentile(walls, 0.5) * 1000, cpu * 1000


def measure(url: str, polls: int) -> list[tuple[str, float, float]]:
    engine = make_engine(url)
    worker = OutboxWorker(engine, SlackRows(), clock=FixedClock())  # type: ignore[arg-type]
    figures = [("empty outbox (baseline)", *timed(worker.claim, polls))]
    with Session(engine) as session:
        session.add_all(report("C0STATUS") for _ in range(PACED_ROWS))
        session.add(report("C0STATUS", status=SENT, sent_at=NOW - timedelta(seconds=0.5)))
        session.commit()
    figures.append((f"{PACED_ROWS} paced rows, none due", *timed(worker.claim, polls)))
    with Session(engine) as session:
        session.add_all(report(f"C0CLIENT{number:03}") for number in range(DUE_CHANNELS))
        session.commit()

    def claim_and_give_back() -> None:
        claimed = worker.claim()
        assert len(claimed) == DUE_CHANNELS, len(claimed)
        with Session(engine) as session:
            ids = [message.id for message in claimed]
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))  # type: ignore[union-attr]
                .values(claimed_until=None)
            )
            session.commit()

    figures.append((f"{DUE_CHANNELS} due rows claimed", *timed(claim_and_give_back, polls)))
    engine.dispose()
    return figures


def run(database_url: str | None, polls: int = POLLS) -> list[str]:
    """The figures on SQLite and, given its URL, PostgreSQL (a fresh database)."""
    lines = ["Outbox poll (OutboxWorker.claim), p50 wall and mean CPU of this process per poll"]
    with fresh_sqlite_database() as sqlite_url:
        runs = [("SQLite", sqlite_url)]
        if database_url is not None:
            runs.append(("PostgreSQL", fresh_database(database_url)))
        for name, url in runs:
            figures = measure(url, polls)
            baseline_cpu = figures[0][2]
            lines.extend(
                f"  {name:<10} {label:<28} wall {wall:6.2f} ms  CPU {cpu:6.2f} ms"
                f"  ({cpu / max(baseline_cpu, 1e-6):4.1f}x the baseline's CPU)"
                for label, wall, cpu in figures
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=POLLS)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    arguments = parser.parse_args()
    print(f"Machine: {machine_summary()}; {load_average()}")
    print("\n".join(run(arguments.database_url, arguments.polls)))


if __name__ == "__main__":
    main()
