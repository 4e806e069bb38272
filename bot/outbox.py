"""Notices delivered through an outbox table.

Use cases call `enqueue(session, notice, now=...)` inside the transaction that changes state, so
a report exists exactly when the change it reports was committed. A row holds the recipient and
the notice (kind, values, language, the message it updates); the transport draws it only when
it sends. `OutboxWorker` (an asyncio task inside `serve`) then delivers through a `Deliverer`:

- It claims due rows in a short transaction. Only the oldest pending row of a recipient is
  eligible, and only when that recipient's last message went out at least the pacing interval
  ago, so per recipient the order holds and the pace is kept across processes too. On
  PostgreSQL the claim reads with `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the
  same row; every claim is also a conditional update with a lease, which keeps a single SQLite
  worker safe.
- A row that names an earlier notice by its dedupe key (`Notice.updates_of`, `thread_of`: the
  parent of a status thread) is claimed only once that notice was sent, and goes out with its
  message reference filled in (`updates`, `thread`). The parent is usually the same
  recipient's older row, so the order per recipient already holds it back; a parent that never
  went out (failed, or none was queued) makes a reply a message of its own and drops a redraw.
  `enqueue_redraw` folds a redraw into one still waiting for the same message, so a busy
  thread's parent is redrawn once per round, not once per event.
- It delivers the claimed rows (one per recipient, recipients in parallel) and records the
  outcome: sent (with the transport's message reference); rate-limited → due again after the
  transport's wait; errors the transport will repeat (channel gone, bot not in it, bad blocks)
  → failed at once; anything else → exponential backoff until `outbox_max_attempts`, then
  failed.
- After `app_uninstalled` or `tokens_revoked` for our own team (a `DeliveryHalt` row) it sends
  nothing more and says so in the log (at most once per `halt_log_interval`), until the halt is
  lifted: by a good `auth.test` of the bot's token (bot.usecases.delivery) or by hand
  (`onboard-bot outbox resume`). The rows wait meanwhile and go out once it is lifted.
- Sent rows are kept `OUTBOX_RETENTION_DAYS` after they went out (`prune_sent`, a scheduled job),
  then deleted.

The one way a message can go out twice: the process dies after the chat tool accepted it and
before the "sent" commit; the lease then runs out and another round delivers it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy import BindParameter, Engine, and_, bindparam, delete, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from bot.clock import Clock
from bot.core.notices import Notice
from storage.models import DeliveryHalt, OutboxMessage

logger = logging.getLogger(__name__)

# The type of the outbox's moments, for the parameters of the statements built once.
MOMENT = OutboxMessage.__table__.c.available_at.type  # type: ignore[attr-defined]

PENDING, SENT, FAILED = "pending", "sent", "failed"
# The one chat transport so far; a Teams transport will enqueue rows under its own name.
DEFAULT_TRANSPORT = "slack"
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 900.0
ERROR_TEXT_LIMIT = 500
HALT_LOG_INTERVAL = timedelta(minutes=15)


class DeliveryFailed(Exception):
    """A delivery the transport refused: for good (`permanent`), for now with a wait the
    transport named (`retry_after`, seconds), or for now for another reason (backoff)."""

    def __init__(self, code: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(code)
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after


class Deliverer(Protocol):
    """A chat transport's side of the outbox: draw a notice and send it (a new message, or the
    update of the one `notice.updates` names)."""

    transport: str

    def connected(self) -> AbstractAsyncContextManager[None]:
        """Holds the transport's connections open while the worker runs."""
        ...

    async def deliver(self, recipient: str, notice: Notice) -> str | None:
        """The sent message's reference; DeliveryFailed when the transport refuses."""
        ...


def enqueue(
    session: Session, notice: Notice, *, now: datetime, transport: str = DEFAULT_TRANSPORT
) -> OutboxMessage:
    """Add `notice` to the outbox in the caller's transaction."""
    row = OutboxMessage(
        kind=notice.kind,
        transport=transport,
        recipient=notice.recipient,
        notice=_stored(notice),
        dedupe_key=notice.dedupe_key,
        available_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def _stored(notice: Notice) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "language": notice.language,
        "values": dict(notice.values),
        "updates": notice.updates,
    }
    for name in ("updates_of", "thread_of"):
        if getattr(notice, name) is not None:
            stored[name] = getattr(notice, name)
    if notice.broadcast:
        stored["broadcast"] = True
    return stored


def enqueue_redraw(session: Session, notice: Notice, *, now: datetime) -> OutboxMessage | None:
    """Redraw the message of the notice `notice.updates_of` names, in the caller's
    transaction: into that notice itself while it waits to be sent, into a redraw of it that
    still waits, or as a new row (returned; None when folded into a waiting one)."""
    key = notice.updates_of
    if key is None:
        raise ValueError("enqueue_redraw needs updates_of")
    waiting = and_(OutboxMessage.status == PENDING, OutboxMessage.claimed_until.is_(None))
    parent = session.exec(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == key, waiting)
    ).first()
    if parent is not None and _rewrite(
        session, parent, {**parent.notice, "values": dict(notice.values)}
    ):
        return None
    redraws = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.recipient == notice.recipient,
            OutboxMessage.kind == notice.kind,
            waiting,
        )
    ).all()
    for row in redraws:
        if row.notice.get("updates_of") == key and _rewrite(session, row, _stored(notice)):
            return None
    return enqueue(session, notice, now=now)


def _rewrite(session: Session, row: OutboxMessage, stored: dict[str, Any]) -> bool:
    """Give a waiting row new content; False when a worker claimed it meanwhile."""
    changed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row.id,
            OutboxMessage.status == PENDING,
            OutboxMessage.claimed_until.is_(None),
        )
        .values(notice=stored)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        return False
    session.expire(row)
    return True


def enqueue_once(session: Session, notice: Notice, *, now: datetime) -> OutboxMessage | None:
    """Like `enqueue`, but skip a notice whose `dedupe_key` is already in the outbox."""
    if notice.dedupe_key is None:
        raise ValueError("enqueue_once needs a dedupe_key")
    taken = session.exec(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == notice.dedupe_key)
    ).first()
    return None if taken is not None else enqueue(session, notice, now=now)


def stored_notice(row: OutboxMessage) -> Notice:
    """The notice an outbox row holds."""
    stored = row.notice
    return Notice(
        kind=row.kind,
        recipient=row.recipient,
        language=stored.get("language") or "",
        values=stored.get("values") or {},
        dedupe_key=row.dedupe_key,
        updates=stored.get("updates"),
        updates_of=stored.get("updates_of"),
        thread_of=stored.get("thread_of"),
        broadcast=bool(stored.get("broadcast")),
    )


@dataclass(frozen=True)
class Halt:
    """Why and since when nothing is sent."""

    team_id: str
    reason: str
    since: datetime


def halt_delivery(session: Session, *, team_id: str, reason: str, now: datetime) -> None:
    """Stop all sending from now on (the app was uninstalled or its token revoked)."""
    session.add(DeliveryHalt(team_id=team_id, reason=reason, at=now))


def delivery_halt(session: Session) -> Halt | None:
    """The first halt still in force, or None when messages go out."""
    row = session.exec(select(DeliveryHalt).order_by(DeliveryHalt.at, DeliveryHalt.id)).first()
    return None if row is None else Halt(team_id=row.team_id, reason=row.reason, since=row.at)


def lift_halts(session: Session, *, recorded_before: datetime | None = None) -> list[Halt]:
    """Delete the halts (only those recorded before `recorded_before`, when given) in the
    caller's transaction; returns what was lifted, oldest first."""
    query = select(DeliveryHalt).order_by(DeliveryHalt.at, DeliveryHalt.id)
    if recorded_before is not None:
        query = query.where(DeliveryHalt.at < recorded_before)
    rows = session.exec(query).all()
    for row in rows:
        session.delete(row)
    return [Halt(team_id=row.team_id, reason=row.reason, since=row.at) for row in rows]


PRUNED = "pruned"


def prune_sent(session: Session, *, sent_before: datetime) -> int:
    """Remove what was sent before `sent_before`, in the caller's transaction; returns the rows
    pruned. A row with a dedupe key stays as that key's record (so its notice is never queued
    again, and a later update finds the message) but loses what it said."""
    old = and_(OutboxMessage.status == SENT, OutboxMessage.sent_at < sent_before)
    deleted = session.execute(delete(OutboxMessage).where(old, OutboxMessage.dedupe_key.is_(None)))
    emptied = session.execute(
        update(OutboxMessage)
        .where(old, OutboxMessage.dedupe_key.is_not(None), OutboxMessage.kind != PRUNED)
        .values(kind=PRUNED, notice={}, last_error=None)
    )
    return int(deleted.rowcount or 0) + int(emptied.rowcount or 0)


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    channel: str
    notice: Notice
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt."""

    message_id: int
    status: str
    message_ref: str | None = None
    retry_in: float | None = None
    error: str | None = None
    counts_as_attempt: bool = True


class OutboxWorker:
    """Delivers the outbox rows of one transport; run one per process with `run(stop)`."""

    def __init__(
        self,
        engine: Engine,
        deliverer: Deliverer,
        *,
        clock: Clock,
        channel_interval: float = 1.0,
        poll_seconds: float = 0.5,
        max_attempts: int = 8,
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=2),
        backoff_base: float = BACKOFF_BASE_SECONDS,
        halt_log_interval: timedelta = HALT_LOG_INTERVAL,
    ):
        self.engine = engine
        self.deliverer = deliverer
        self.clock = clock
        self.channel_interval = timedelta(seconds=channel_interval)
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.lease = lease
        self.backoff_base = backoff_base
        self.halt_log_interval = halt_log_interval
        self._halt_logged_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a failing round is logged and retried, never fatal."""
        async with self.deliverer.connected():
            while not stop.is_set():
                try:
                    handled = await self.deliver_due()
                except Exception:
                    logger.exception("outbox delivery round failed")
                    handled = 0
                if not handled:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim what is due, post it, record the outcomes. Returns rows handled."""
        claimed = await asyncio.to_thread(self.claim)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(message) for message in claimed))
        await asyncio.to_thread(self.record, outcomes)
        return len(claimed)

    def claim(self) -> list[ClaimedMessage]:
        now = self.clock.now()
        with Session(self.engine) as session:
            halt = delivery_halt(session)
            if halt is not None:
                self._say_halted(session, halt, now)
                return []
            self._halt_logged_at = None
            rows = session.exec(
                self._due, params={"now": now, "recent_since": now - self.channel_interval}
            ).all()
            notices = {
                row.id: notice
                for row in rows
                if row.id is not None and (notice := self._resolved(session, row, now))
            }
            taken = self._take(session, list(notices), now)
            session.commit()
            return [
                ClaimedMessage(
                    id=row.id, channel=row.recipient, notice=notices[row.id], attempts=row.attempts
                )
                for row in rows
                if row.id in taken
            ]

    def _take(self, session: Session, ids: list[int], now: datetime) -> set[int]:
        """Claim the rows `ids` that nobody claimed meanwhile, in one statement: on SQLite
        another worker may have come between the read and this write (PostgreSQL locked the
        rows for us), and then ours are the rows with our lease."""
        if not ids:
            return set()
        until = now + self.lease
        taken = session.execute(self._claim, {"ids": ids, "now": now, "until": until})
        if taken.rowcount == len(ids):  # type: ignore[attr-defined]
            return set(ids)
        ours = select(OutboxMessage.id).where(
            OutboxMessage.id.in_(ids),  # type: ignore[union-attr]
            OutboxMessage.claimed_until == until,
        )
        return {id_ for id_ in session.exec(ours) if id_ is not None}

    def _resolved(self, session: Session, row: OutboxMessage, now: datetime) -> Notice | None:
        """The row's notice with the references of the notices it names filled in; None
        while one of them waits to be sent, or when a redraw has no message (then it fails)."""
        notice = stored_notice(row)
        resolved: dict[str, str | None] = {}
        for name, key in (("updates", notice.updates_of), ("thread", notice.thread_of)):
            if key is None:
                continue
            parent = session.exec(
                select(OutboxMessage.status, OutboxMessage.message_ref).where(
                    OutboxMessage.dedupe_key == key
                )
            ).first()
            if parent is not None and parent[0] == PENDING:
                return None
            resolved[name] = parent[1] if parent is not None else None
        if "updates" in resolved and resolved["updates"] is None:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, self._unclaimed(now))
                .values(status=FAILED, last_error="parent_not_sent")
            )
            return None
        return dataclasses.replace(notice, **resolved) if resolved else notice

    def _say_halted(self, session: Session, halt: Halt, now: datetime) -> None:
        """A warning while halted, at most once per `halt_log_interval`."""
        last = self._halt_logged_at
        if last is not None and now - last < self.halt_log_interval:
            return
        self._halt_logged_at = now
        waiting = session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == PENDING)
        ).one()
        logger.warning(
            "delivery halted since %s (%s for team %s): %s messages wait; a good auth.test of "
            "the bot token at start-up or `onboard-bot outbox resume` lifts the halt",
            halt.since.isoformat(),
            halt.reason,
            halt.team_id,
            waiting,
        )

    @cached_property
    def _claim(self):  # type: ignore[no-untyped-def]
        """Sets `claimed_until` of the rows `ids` still unclaimed at `now` (built once)."""
        return (
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(bindparam("ids", expanding=True)),  # type: ignore[union-attr]
                self._unclaimed(bindparam("now", type_=MOMENT)),
            )
            .values(claimed_until=bindparam("until", type_=MOMENT))
            .execution_options(synchronize_session=False)
        )

    @cached_property
    def _due(self):  # type: ignore[no-untyped-def]
        """The query of the due rows, built once (building it took most of a poll's time):
        executed with `now` and `recent_since` (now minus the pacing interval)."""
        earlier = aliased(OutboxMessage)
        recent = aliased(OutboxMessage)
        row = OutboxMessage
        now = bindparam("now", type_=MOMENT)
        return (
            select(row)
            .where(
                self._unclaimed(now),
                row.transport == self.deliverer.transport,
                row.available_at <= now,
                ~exists().where(
                    earlier.recipient == row.recipient,
                    earlier.status == PENDING,
                    earlier.id < row.id,
                ),
                ~exists().where(
                    recent.recipient == row.recipient,
                    recent.sent_at > bindparam("recent_since", type_=MOMENT),
                ),
            )
            .order_by(row.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True, of=row)
        )

    @staticmethod
    def _unclaimed(now: datetime | BindParameter[datetime]):  # type: ignore[no-untyped-def]
        return and_(
            OutboxMessage.status == PENDING,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )

    async def _send(self, message: ClaimedMessage) -> Outcome:
        try:
            ref = await self.deliverer.deliver(message.channel, message.notice)
        except DeliveryFailed as failure:
            return self._failure_outcome(message, failure)
        return Outcome(message.id, SENT, message_ref=ref)

    def _failure_outcome(self, message: ClaimedMessage, failure: DeliveryFailed) -> Outcome:
        if failure.retry_after is not None:
            logger.info(
                "outbox message %s rate-limited; retrying in %ss", message.id, failure.retry_after
            )
            return Outcome(
                message.id,
                PENDING,
                retry_in=failure.retry_after,
                error=failure.code,
                counts_as_attempt=False,
            )
        if failure.permanent:
            logger.warning(
                "outbox message %s to %s failed for good: %s",
                message.id,
                message.channel,
                failure.code,
            )
            return Outcome(message.id, FAILED, error=failure.code)
        return self._retry_outcome(message, failure.code)

    def _retry_outcome(self, message: ClaimedMessage, error: str) -> Outcome:
        attempts = message.attempts + 1
        if attempts >= self.max_attempts:
            logger.warning(
                "outbox message %s to %s failed %s times, giving up: %s",
                message.id,
                message.channel,
                attempts,
                error,
            )
            return Outcome(message.id, FAILED, error=error)
        delay = min(self.backoff_base * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)
        logger.warning(
            "outbox message %s to %s failed (%s); retry %s in %ss",
            message.id,
            message.channel,
            error,
            attempts,
            delay,
        )
        return Outcome(message.id, PENDING, retry_in=delay, error=error)

    def record(self, outcomes: list[Outcome]) -> None:
        now = self.clock.now()
        with Session(self.engine) as session:
            for outcome in outcomes:
                values: dict[str, Any] = {"claimed_until": None, "status": outcome.status}
                if outcome.status == SENT:
                    values.update(sent_at=now, message_ref=outcome.message_ref, last_error=None)
                else:
                    values["last_error"] = (outcome.error or "")[:ERROR_TEXT_LIMIT]
                    if outcome.counts_as_attempt:
                        values["attempts"] = OutboxMessage.attempts + 1
                if outcome.retry_in is not None:
                    values["available_at"] = now + timedelta(seconds=outcome.retry_in)
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == outcome.message_id)
                    .values(**values)
                )
            session.commit()
