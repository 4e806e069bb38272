"""Threads through the outbox: a parent message named by its dedupe key before it is sent,
its replies in its thread, its redraws in place; also with two worker processes on PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.core.notices import Notice
from bot.outbox import enqueue, enqueue_once, enqueue_redraw
from devslack import DevSlack
from devslack.workspace import STATUS_CHANNEL
from tests.bot.test_outbox import (
    all_settled,
    clock,
    deliver_with_two_workers,
    drawn,
    rows,
    run_until,
    worker,
)

PARENT = "thread:1"


def parent(text: str, key: str = PARENT) -> Notice:
    return drawn("status_thread", STATUS_CHANNEL, text, dedupe_key=key)


def redraw(text: str, key: str = PARENT) -> Notice:
    return dataclasses.replace(parent(text, key), dedupe_key=None, updates_of=key)


def reply(text: str, key: str = PARENT, *, broadcast: bool = False) -> Notice:
    notice = drawn("report.test", STATUS_CHANNEL, text)
    return dataclasses.replace(notice, thread_of=key, broadcast=broadcast)


def in_one_transaction(engine: Engine, *notices: Notice) -> None:
    with Session(engine) as session:
        for notice in notices:
            if notice.updates_of is not None:
                enqueue_redraw(session, notice, now=clock.now())
            elif notice.dedupe_key is not None:
                enqueue_once(session, notice, now=clock.now())
            else:
                enqueue(session, notice, now=clock.now())
        session.commit()


async def test_replies_queued_with_their_unsent_parent_go_into_its_thread(
    engine: Engine, slack: DevSlack
) -> None:
    in_one_transaction(engine, parent("Acme: uitgenodigd"), reply("uitnodiging geplaatst"))
    in_one_transaction(engine, reply("begonnen"))

    await run_until(worker(engine, slack), all_settled(engine))

    top, *replies = slack.messages(STATUS_CHANNEL)
    assert top.text == "Acme: uitgenodigd" and top.thread_ts is None
    assert [(m.text, m.thread_ts) for m in replies] == [
        ("uitnodiging geplaatst", top.ts),
        ("begonnen", top.ts),
    ]


async def test_a_redraw_of_a_parent_still_waiting_is_folded_into_it(
    engine: Engine, slack: DevSlack
) -> None:
    in_one_transaction(engine, parent("stap 1"), reply("een"))
    in_one_transaction(engine, redraw("stap 2"), reply("twee"))

    await run_until(worker(engine, slack), all_settled(engine))

    assert slack.calls("chat.update") == []
    assert [m.text for m in slack.messages(STATUS_CHANNEL)] == ["stap 2", "een", "twee"]


async def test_redraws_after_the_parent_went_out_update_it_in_place_once_per_round(
    engine: Engine, slack: DevSlack
) -> None:
    in_one_transaction(engine, parent("stap 1"))
    await run_until(worker(engine, slack), all_settled(engine))
    in_one_transaction(engine, redraw("stap 2"), reply("twee"))
    in_one_transaction(engine, redraw("stap 3"), reply("drie"))

    await run_until(worker(engine, slack), all_settled(engine))

    [update] = slack.calls("chat.update")
    assert update.args["ts"] == slack.messages(STATUS_CHANNEL)[0].ts
    assert [m.text for m in slack.messages(STATUS_CHANNEL)] == ["stap 3", "twee", "drie"]


async def test_what_needs_a_person_is_a_reply_shown_at_the_top_level_too(
    engine: Engine, slack: DevSlack
) -> None:
    in_one_transaction(engine, parent("Acme"), reply("bel de klant", broadcast=True))

    await run_until(worker(engine, slack), all_settled(engine))

    [_, sent] = slack.calls("chat.postMessage")
    assert sent.args["reply_broadcast"] is True and sent.args["thread_ts"]


async def test_without_a_parent_a_reply_is_a_message_of_its_own_and_a_redraw_is_dropped(
    engine: Engine, slack: DevSlack
) -> None:
    in_one_transaction(engine, reply("oude onboarding", key="thread:none"))
    in_one_transaction(engine, redraw("niets om bij te werken", key="thread:none"))

    await run_until(worker(engine, slack), all_settled(engine))

    [message] = slack.messages(STATUS_CHANNEL)
    assert message.text == "oude onboarding" and message.thread_ts is None
    dropped = rows(engine)[-1]
    assert (dropped.status, dropped.last_error) == ("failed", "parent_not_sent")


def test_a_parent_is_queued_once_however_often_it_is_asked_for(engine: Engine) -> None:
    in_one_transaction(engine, parent("een"))
    in_one_transaction(engine, parent("twee"))
    assert [row.kind for row in rows(engine)] == ["status_thread"]


@pytest.mark.postgres
def test_two_worker_processes_post_each_parent_once_with_every_reply_in_its_thread(
    engine: Engine, slack: DevSlack, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs a single worker")
    threads = 12
    for number in range(threads):
        key = f"thread:{number}"
        in_one_transaction(engine, parent(f"ouder {number}", key), reply(f"{number} a", key))
        in_one_transaction(engine, redraw(f"ouder {number} bijgewerkt", key))
        in_one_transaction(engine, reply(f"{number} b", key), reply(f"{number} c", key))
    deliver_with_two_workers(database_url, slack)

    timeline = slack.messages(STATUS_CHANNEL)
    parents = {m.text: m.ts for m in timeline if m.thread_ts is None}
    assert sorted(parents) == sorted(f"ouder {n} bijgewerkt" for n in range(threads))
    counts = Counter(m.text for m in timeline)
    assert set(counts.values()) == {1}
    for number in range(threads):
        replies = [m for m in timeline if m.text.startswith(f"{number} ")]
        assert [m.text for m in replies] == [f"{number} a", f"{number} b", f"{number} c"]
        assert {m.thread_ts for m in replies} == {parents[f"ouder {number} bijgewerkt"]}
