from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError

from storage.models import Client
from storage.repository import SqlUnitOfWork

AMSTERDAM_SUMMER = timezone(timedelta(hours=2))


def test_moments_come_back_in_utc_whatever_zone_they_were_given_in(engine: Engine) -> None:
    local = datetime(2026, 7, 1, 11, 0, tzinfo=AMSTERDAM_SUMMER)
    with SqlUnitOfWork(engine, None) as uow:
        client = uow.clients.add(
            Client(name="Korst", workspace_id="T", conversation_id="C", created_at=local)
        )
        uow.commit()

    with SqlUnitOfWork(engine, None) as uow:
        stored = uow.clients.get(client.id or 0)
    assert stored is not None
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC and stored.created_at.hour == 9


def test_a_naive_moment_is_refused(engine: Engine) -> None:
    with SqlUnitOfWork(engine, None) as uow, pytest.raises(StatementError, match="naive datetime"):
        uow.clients.add(
            Client(
                name="Korst",
                workspace_id="T",
                conversation_id="C",
                created_at=datetime(2026, 7, 1),
            )
        )
