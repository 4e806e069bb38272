"""Link events in the caller's transaction: audited, and put in the outbox as the notices the
`LinkNotices` port makes of them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import select

from bot.core.events import LinkEvent, audit
from bot.core.model import Company
from bot.outbox import enqueue, enqueue_once
from bot.ports import LinkNotices
from storage.links import CompanyRef
from storage.models import Client, LinkedCompany, OutboxMessage, PayrollLink
from storage.repository import SqlUnitOfWork


def notice_key(link_id: int, since: str) -> str:
    return f"link_needs_relink:{link_id}:{since}"


def publish_link_event(uow: SqlUnitOfWork, notices: LinkNotices, event: LinkEvent) -> None:
    """Audit the event and put its notices in the outbox, in the caller's transaction."""
    audit(uow, event)
    for notice in notices.notices_for(event):
        if notice.dedupe_key is None:
            enqueue(uow.session, notice, now=event.at)
        else:
            enqueue_once(uow.session, notice, now=event.at)


def sent_ts(uow: SqlUnitOfWork, dedupe_key: str | None) -> str | None:
    """The transport's reference of an outbox message (Slack: its ts), once it was sent."""
    if dedupe_key is None:
        return None
    statement = select(OutboxMessage.message_ref).where(OutboxMessage.dedupe_key == dedupe_key)
    return uow.session.exec(statement).first()


def refs(companies: Iterable[Company]) -> list[CompanyRef]:
    return [CompanyRef(id=c.id, number=c.number, name=c.name, guid=c.guid) for c in companies]


def names(rows: Iterable[Company | LinkedCompany]) -> tuple[str, ...]:
    return tuple(row.name for row in rows)


def link_event(
    event_type: type[LinkEvent],
    link: PayrollLink,
    client: Client,
    *,
    actor: str,
    at: datetime,
    **fields: Any,
) -> LinkEvent:
    assert link.id is not None
    return event_type(
        onboarding_id=link.onboarding_id,
        link_id=link.id,
        client_name=client.name,
        channel_id=client.conversation_id,
        language=client.language,
        actor=actor,
        at=at,
        **fields,
    )
