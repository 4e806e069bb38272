"""The outbox worker against the fake Slack Web API: order, pacing, retries, halts, and no
message posted twice, also with two worker processes on one PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from sqlmodel import Session, select, update

from bot.clock import SystemClock, WorkingCalendar
from bot.core.notices import Notice
from bot.outbox import OutboxWorker, enqueue, enqueue_once, halt_delivery
from bot.transports.slack.delivery import SlackDelivery
from bot.transports.slack.render import SLACK_PAYLOAD, SlackRenderer
from devslack import DevSlack
from devslack.workspace import SHARED_CHANNEL, STATUS_CHANNEL
from storage.models import OutboxMessage

clock = SystemClock()


class LaterClock:
    """The real clock, shifted into the future."""

    def __init__(self, shift: timedelta):
        self.shift = shift

    def now(self) -> datetime:
        return clock.now() + self.shift


class FixedClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def worker(engine: Engine, slack: DevSlack, **options) -> OutboxWorker:
    options = {
        "clock": clock,
        "channel_interval": 0.0,
        "poll_seconds": 0.02,
        "backoff_base": 0.05,
        **options,
    }
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    delivery = SlackDelivery(client, SlackRenderer(calendar=WorkingCalendar("Europe/Amsterdam")))
    return OutboxWorker(engine, delivery, **options)


def drawn(kind: str, channel: str, text: str, dedupe_key: str | None = None) -> Notice:
    """A notice whose values are Slack's finished payload."""
    return Notice(
        kind=kind,
        recipient=channel,
        language="nl",
        values={SLACK_PAYLOAD: {"text": text}},
        dedupe_key=dedupe_key,
    )


def queue(engine: Engine, *messages: Notice) -> None:
    with Session(engine) as session:
        for message in messages:
            enqueue(session, message, now=clock.now())
        session.commit()


def report(text: str, channel: str = STATUS_CHANNEL) -> Notice:
    return drawn("report.test", channel, text)


def rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def posted(slack: DevSlack) -> list[str]:
    return [
        call.args["text"] for call in slack.calls("chat.postMessage") if call.response.get("ok")
    ]


async def run_until(outbox_worker: OutboxWorker, done, timeout: float = 10.0) -> None:
    """Run the worker as `serve` does until `done()` holds."""
    stop = asyncio.Event()
    task = asyncio.create_task(outbox_worker.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not await asyncio.to_thread(done):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task


def all_settled(engine: Engine):
    return lambda: all(row.status != "pending" for row in rows(engine))


async def test_queued_messages_are_posted_in_order_and_marked_sent(
    engine: Engine, slack: DevSlack
) -> None:
    queue(engine, report("eerste"), report("tweede"), report("welkom", SHARED_CHANNEL))

    await run_until(worker(engine, slack), all_settled(engine))

    assert [m.text for m in slack.messages(STATUS_CHANNEL)] == ["eerste", "tweede"]
    assert [m.text for m in slack.messages(SHARED_CHANNEL)] == ["welkom"]
    stored = rows(engine)
    assert {row.status for row in stored} == {"sent"}
    assert all(row.message_ref and row.sent_at for row in stored)


async def test_a_429_is_retried_once_after_retry_after(engine: Engine, slack: DevSlack) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=1)
    queue(engine, report("na de wachttijd"))

    await run_until(worker(engine, slack), all_settled(engine))

    calls = slack.calls("chat.postMessage")
    assert [call.status for call in calls] == [429, 200]
    assert posted(slack) == ["na de wachttijd"]
    assert calls[1].at - calls[0].at >= 1.0
    assert rows(engine)[0].attempts == 0  # being told to wait is no failure


async def test_a_server_error_is_retried_with_backoff(engine: Engine, slack: DevSlack) -> None:
    slack.fail("chat.postMessage", status=500, times=2)
    queue(engine, report("toch aangekomen"))

    await run_until(worker(engine, slack), all_settled(engine))

    assert [call.status for call in slack.calls("chat.postMessage")] == [500, 500, 200]
    assert posted(slack) == ["toch aangekomen"]
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_after_the_last_attempt_a_message_fails_and_the_next_one_goes(
    engine: Engine, slack: DevSlack
) -> None:
    slack.fail("chat.postMessage", status=503, times=3)
    queue(engine, report("te vaak mislukt"), report("de volgende"))

    await run_until(worker(engine, slack, max_attempts=3), all_settled(engine))

    assert posted(slack) == ["de volgende"]
    first, second = rows(engine)
    assert (first.status, first.attempts, first.last_error) == ("failed", 3, "fatal_error")
    assert second.status == "sent"


async def test_an_error_slack_would_repeat_fails_at_once(engine: Engine, slack: DevSlack) -> None:
    queue(engine, report("nergens", "C0GONE"))

    await run_until(worker(engine, slack), all_settled(engine))

    [row] = rows(engine)
    assert (row.status, row.last_error) == ("failed", "channel_not_found")
    assert len(slack.calls("chat.postMessage")) == 1


async def test_a_notice_the_transport_cannot_draw_fails_at_once(
    engine: Engine, slack: DevSlack
) -> None:
    queue(engine, Notice(kind="nudge", recipient=SHARED_CHANNEL, language="nl"), report("daarna"))

    await run_until(worker(engine, slack), all_settled(engine))

    first, second = rows(engine)
    assert (first.status, first.last_error) == ("failed", "unrenderable")
    assert second.status == "sent" and posted(slack) == ["daarna"]


async def test_a_channel_gets_at_most_one_message_per_interval(
    engine: Engine, slack: DevSlack
) -> None:
    queue(engine, report("een"), report("twee"), report("drie"))

    await run_until(worker(engine, slack, channel_interval=0.3), all_settled(engine))

    moments = [call.at for call in slack.calls("chat.postMessage")]
    assert len(moments) == 3
    assert all(later - earlier >= 0.3 for earlier, later in zip(moments, moments[1:], strict=False))


async def test_after_an_uninstall_nothing_is_sent(engine: Engine, slack: DevSlack) -> None:
    with Session(engine) as session:
        halt_delivery(session, team_id="T0OURS", reason="app_uninstalled", now=clock.now())
        session.commit()
    queue(engine, report("blijft liggen"))

    outbox_worker = worker(engine, slack)
    assert await outbox_worker.deliver_due() == 0

    assert slack.calls("chat.postMessage") == []
    assert rows(engine)[0].status == "pending"


async def test_while_halted_the_worker_says_so_at_most_once_per_interval(
    engine: Engine, slack: DevSlack, caplog: pytest.LogCaptureFixture
) -> None:
    halted_clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    with Session(engine) as session:
        halt_delivery(session, team_id="T0OURS", reason="tokens_revoked", now=halted_clock.now())
        session.commit()
    queue(engine, report("blijft liggen"))
    outbox_worker = worker(
        engine, slack, clock=halted_clock, halt_log_interval=timedelta(minutes=15)
    )

    for minutes in (0, 14, 1, 1):
        halted_clock.moment += timedelta(minutes=minutes)
        assert await outbox_worker.deliver_due() == 0

    said = [r for r in caplog.records if r.getMessage().startswith("delivery halted since")]
    assert [record.levelname for record in said] == ["WARNING", "WARNING"]
    assert (
        said[0]
        .getMessage()
        .startswith(
            "delivery halted since 2026-12-01T09:00:00+00:00 (tokens_revoked for team T0OURS): "
            "1 messages wait;"
        )
    )


async def test_a_claimed_message_is_not_claimed_again_until_its_lease_runs_out(
    engine: Engine, slack: DevSlack
) -> None:
    queue(engine, report("één keer"))
    first, second = worker(engine, slack), worker(engine, slack)

    claimed = await asyncio.to_thread(first.claim)
    assert [message.notice.values[SLACK_PAYLOAD]["text"] for message in claimed] == ["één keer"]
    assert await asyncio.to_thread(second.claim) == []

    second.clock = LaterClock(timedelta(minutes=3))
    assert len(await asyncio.to_thread(second.claim)) == 1


async def test_a_row_another_worker_claimed_between_the_read_and_the_claim_stays_its_own(
    engine: Engine, slack: DevSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite nothing locks the rows a worker read (on PostgreSQL the others skip them)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks the rows it reads: no other worker can claim them")
    queue(engine, report("eerste", "C0FIRST"), report("tweede", "C0SECOND"))
    first, second = worker(engine, slack), worker(engine, slack)
    [other_ones] = [row.id for row in rows(engine) if row.recipient == "C0FIRST"]
    resolved = OutboxWorker._resolved

    def resolved_while_the_other_claims(self, session, row, now):  # type: ignore[no-untyped-def]
        if row.id == other_ones:
            with Session(engine) as other:
                other.exec(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == other_ones)
                    .values(claimed_until=now + timedelta(minutes=5))
                )
                other.commit()
        return resolved(self, session, row, now)

    monkeypatch.setattr(OutboxWorker, "_resolved", resolved_while_the_other_claims)
    claimed = await asyncio.to_thread(first.claim)
    assert [message.channel for message in claimed] == ["C0SECOND"]
    monkeypatch.setattr(OutboxWorker, "_resolved", resolved)
    assert await asyncio.to_thread(second.claim) == []


def test_a_message_with_a_dedupe_key_is_queued_once(engine: Engine) -> None:
    nudge = drawn("nudge", SHARED_CHANNEL, "herinnering", dedupe_key="n:1:1")
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    with Session(engine) as session:
        assert enqueue_once(session, nudge, now=now) is not None
        session.commit()
    with Session(engine) as session:
        assert enqueue_once(session, nudge, now=now) is None
    assert len(rows(engine)) == 1


# --- two processes on one PostgreSQL --------------------------------------------------------

WORKER_PROCESS = textwrap.dedent(
    """
    import asyncio, os, sys
    from slack_sdk.web.async_client import AsyncWebClient
    from sqlmodel import Session, select
    from bot.clock import SystemClock, WorkingCalendar
    from bot.outbox import OutboxWorker
    from bot.transports.slack.delivery import SlackDelivery
    from bot.transports.slack.render import SlackRenderer
    from storage.db import make_engine
    from storage.models import OutboxMessage

    async def main():
        engine = make_engine(os.environ["OUTBOX_DATABASE_URL"])
        client = AsyncWebClient(
            token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
        )
        renderer = SlackRenderer(calendar=WorkingCalendar("Europe/Amsterdam"))
        worker = OutboxWorker(
            engine,
            SlackDelivery(client, renderer),
            clock=SystemClock(),
            channel_interval=0.0,
            batch_size=5,
        )
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start together
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        pending = select(OutboxMessage.id).where(OutboxMessage.status == "pending")
        while True:
            await asyncio.sleep(0.05)
            with Session(engine) as session:
                if session.exec(pending).first() is None:
                    break
        stop.set()
        await task

    asyncio.run(main())
    """
)


def deliver_with_two_workers(database_url: str, slack: DevSlack) -> None:
    """Two outbox worker processes, started together, deliver everything pending."""
    environment = {
        **os.environ,
        "OUTBOX_DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.api_url,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_PROCESS],
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            assert process.wait(timeout=60) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


@pytest.mark.postgres
def test_two_worker_processes_on_postgresql_post_each_message_once(
    engine: Engine, slack: DevSlack, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs a single worker")
    channels = [STATUS_CHANNEL, SHARED_CHANNEL]
    queue(engine, *(report(f"melding {n}", channels[n % 2]) for n in range(100)))
    deliver_with_two_workers(database_url, slack)

    counts = Counter(posted(slack))
    assert len(counts) == 100
    assert set(counts.values()) == {1}
    assert {row.status for row in rows(engine)} == {"sent"}
    for channel in channels:  # each channel kept its order
        texts = [m.text for m in slack.messages(channel)]
        assert texts == sorted(texts, key=lambda text: int(text.split()[1]))
