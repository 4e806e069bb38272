"""Throw-away storage for tests of the bot: `ScratchStorage` (a test helper, so it lives here).

Use it where a fake unit of work would go::

    with ScratchStorage() as storage:
        service = OnboardingService(unit_of_work=storage.unit_of_work, ...)
        ...
        with storage.unit_of_work() as uow:
            assert uow.onboardings.require(1).state == "terms_accepted"

It is the real `SqlUnitOfWork` on a fresh SQLite file in a temporary directory (deleted on
exit), with a freshly generated key. A dictionary-based fake was considered and rejected: version
checks, rollbacks, unique constraints and encryption would each need re-implementing and their
own proof, while this costs a few milliseconds per test and behaves exactly as production.
An in-memory SQLite database was rejected too: it lives in a single connection, so two units of
work would share one transaction and could not show a stale update.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine
from storage.models import Client, Onboarding
from storage.repository import SqlUnitOfWork


class ScratchStorage:
    """`.engine`, `.cipher`, `.unit_of_work()`; pass `keys` to choose the cipher's keys."""

    def __init__(self, keys: list[str] | None = None):
        self._directory = tempfile.TemporaryDirectory(prefix="onboard-bot-")
        self.url = f"sqlite:///{Path(self._directory.name) / 'scratch.db'}"
        self.engine = make_engine(self.url)
        # The schema is built from the models; a storage test proves migrations give the same.
        SQLModel.metadata.create_all(self.engine)
        self.cipher = TokenCipher(keys or [generate_key()])

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.cipher)

    def close(self) -> None:
        self.engine.dispose()
        self._directory.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def completed_onboarding(uow: SqlUnitOfWork, *, conversation_id: str = "C0SHARED") -> Onboarding:
    """Bakkerij De Korst's client with a completed onboarding, added in `uow` (not committed):
    what a link is made of."""
    client = uow.clients.add(
        Client(name="Bakkerij De Korst", workspace_id="T0CUSTOMER", conversation_id=conversation_id)
    )
    assert client.id is not None
    return uow.onboardings.add(
        Onboarding(client_id=client.id, state="completed", started_by="U0MANAGER")
    )
