"""Slack messages delivered through an outbox table.

Use cases call `enqueue(session, message, now=...)` inside the transaction that changes state, so
a report exists exactly when the change it reports was committed. `OutboxWorker` (an asyncio task
inside `serve`) then delivers:

- It claims due rows in a short transaction. Only the oldest pending row of a channel is
  eligible, and only when that channel's last message went out at least the pacing interval ago,
  so per channel the order holds and the pace is kept across processes too. On PostgreSQL the
  claim reads with `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same row; every
  claim is also a conditional update with a lease, which keeps a single SQLite worker safe.
- It posts the claimed rows (one per channel, channels in parallel) and records the outcome:
  sent (with Slack's `ts`); 429 → due again after `Retry-After`; errors Slack will repeat
  (channel gone, bot not in it, bad blocks) → failed at once; anything else → exponential backoff
  until `outbox_max_attempts`, then failed.
- After `app_uninstalled` or `tokens_revoked` (a `DeliveryHalt` row) it sends nothing more.

The one way a message can go out twice: the process dies after Slack accepted it and before the
"sent" commit; the lease then runs out and another round posts it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, and_, exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from bot.clock import Clock
from storage.models import DeliveryHalt, OutboxMessage

logger = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"

# Slack answers these the same way however often we ask.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "restricted_action",
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
    }
)
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 900.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0
ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Message:
    """One Slack message to send: what the reports and reminders produce."""

    kind: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    dedupe_key: str | None = None
    method: str = "chat.postMessage"
    # Extra Web API arguments, e.g. {"ts": ...} for chat.update.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": self.text, **self.extra}
        if self.blocks:
            payload["blocks"] = self.blocks
        return payload


def enqueue(session: Session, message: Message, *, now: datetime) -> OutboxMessage:
    """Add `message` to the outbox in the caller's transaction."""
    row = OutboxMessage(
        kind=message.kind,
        method=message.method,
        recipient=message.channel,
        payload=message.payload(),
        dedupe_key=message.dedupe_key,
        available_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def enqueue_once(session: Session, message: Message, *, now: datetime) -> OutboxMessage | None:
    """Like `enqueue`, but skip a message whose `dedupe_key` is already in the outbox."""
    if message.dedupe_key is None:
        raise ValueError("enqueue_once needs a dedupe_key")
    taken = session.exec(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == message.dedupe_key)
    ).first()
    return None if taken is not None else enqueue(session, message, now=now)


def halt_delivery(session: Session, *, team_id: str, reason: str, now: datetime) -> None:
    """Stop all sending from now on (the app was uninstalled or its token revoked)."""
    session.add(DeliveryHalt(team_id=team_id, reason=reason, at=now))


def delivery_halted(session: Session) -> bool:
    return session.exec(select(DeliveryHalt.id).limit(1)).first() is not None


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    method: str
    channel: str
    payload: dict[str, Any]
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
    """Delivers the outbox to Slack; run one per process with `run(stop)`."""

    def __init__(
        self,
        engine: Engine,
        client: AsyncWebClient,
        *,
        clock: Clock,
        channel_interval: float = 1.0,
        poll_seconds: float = 0.5,
        max_attempts: int = 8,
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=2),
        backoff_base: float = BACKOFF_BASE_SECONDS,
    ):
        self.engine = engine
        self.client = client
        self.clock = clock
        self.channel_interval = timedelta(seconds=channel_interval)
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.lease = lease
        self.backoff_base = backoff_base

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a failing round is logged and retried, never fatal."""
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
            if delivery_halted(session):
                return []
            rows = session.exec(self._due_query(now)).all()
            claimed = []
            for row in rows:
                taken = session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id, self._unclaimed(now))
                    .values(claimed_until=now + self.lease)
                )
                if taken.rowcount == 1:
                    claimed.append(
                        ClaimedMessage(
                            id=row.id,
                            method=row.method,
                            channel=row.recipient,
                            payload=dict(row.payload),
                            attempts=row.attempts,
                        )
                    )
            session.commit()
            return claimed

    def _due_query(self, now: datetime):  # type: ignore[no-untyped-def]
        earlier = aliased(OutboxMessage)
        recent = aliased(OutboxMessage)
        row = OutboxMessage
        return (
            select(row)
            .where(
                self._unclaimed(now),
                row.available_at <= now,
                ~exists().where(
                    earlier.recipient == row.recipient,
                    earlier.status == PENDING,
                    earlier.id < row.id,
                ),
                ~exists().where(
                    recent.recipient == row.recipient,
                    recent.sent_at > now - self.channel_interval,
                ),
            )
            .order_by(row.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True, of=row)
        )

    @staticmethod
    def _unclaimed(now: datetime):  # type: ignore[no-untyped-def]
        return and_(
            OutboxMessage.status == PENDING,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )

    async def _send(self, message: ClaimedMessage) -> Outcome:
        arguments = {"channel": message.channel, **message.payload}
        try:
            response = await self.client.api_call(message.method, json=arguments)
        except SlackApiError as error:
            return self._failure_outcome(message, error)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return self._retry_outcome(message, type(error).__name__)
        return Outcome(message.id, SENT, message_ref=response.get("ts"))

    def _failure_outcome(self, message: ClaimedMessage, error: SlackApiError) -> Outcome:
        response = error.response
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        if status == 429:
            retry_after = _retry_after_seconds(getattr(response, "headers", None) or {})
            logger.info(
                "Slack rate-limited outbox message %s; retrying in %ss", message.id, retry_after
            )
            return Outcome(
                message.id,
                PENDING,
                retry_in=retry_after,
                error="ratelimited",
                counts_as_attempt=False,
            )
        code = _error_code(response) or f"http_{status}"
        if code in PERMANENT_ERRORS:
            logger.warning(
                "outbox message %s to %s failed for good: %s", message.id, message.channel, code
            )
            return Outcome(message.id, FAILED, error=code)
        return self._retry_outcome(message, code)

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


def _retry_after_seconds(headers: Mapping[str, str]) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


def _error_code(response: object) -> str | None:
    try:
        code = response["error"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None
