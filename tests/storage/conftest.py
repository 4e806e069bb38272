"""Storage fixtures: a migrated database on SQLite and PostgreSQL, a cipher, units of work."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from storage.crypto import TokenCipher, generate_key
from storage.models import Client, Onboarding
from storage.repository import UnitOfWorkFactory, unit_of_work_factory


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher([generate_key()])


@pytest.fixture
def uow(engine: Engine, cipher: TokenCipher) -> UnitOfWorkFactory:
    return unit_of_work_factory(engine, cipher)


@pytest.fixture
def new_onboarding(uow: UnitOfWorkFactory) -> Callable[..., Onboarding]:
    """Store a client and an onboarding for it; returns the onboarding."""

    def create(*, channel: str = "C0SHARED", state: str = "invited") -> Onboarding:
        with uow() as unit:
            client = unit.clients.add(
                Client(name="Bakkerij De Korst", workspace_id="T0CUSTOMER", conversation_id=channel)
            )
            assert client.id is not None
            onboarding = unit.onboardings.add(
                Onboarding(client_id=client.id, state=state, started_by="U0MANAGER")
            )
            unit.commit()
        return onboarding

    return create
