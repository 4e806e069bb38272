"""One open onboarding per channel, kept by the database (a partial unique index), also when two
processes start one at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from storage.crypto import TokenCipher
from storage.db import make_engine
from storage.models import Client, Onboarding
from storage.repository import OpenOnboardingExists, UnitOfWorkFactory, unit_of_work_factory

NewOnboarding = Callable[..., Onboarding]


def add_onboarding(uow: UnitOfWorkFactory, channel: str) -> Onboarding:
    with uow() as unit:
        client = unit.clients.add(
            Client(name="Bakkerij De Korst", workspace_id="T0CUSTOMER", conversation_id=channel)
        )
        assert client.id is not None
        onboarding = unit.onboardings.add(
            Onboarding(client_id=client.id, state="invited", started_by="U0MANAGER")
        )
        unit.commit()
    return onboarding


def test_an_onboarding_runs_in_its_clients_channel(new_onboarding: NewOnboarding) -> None:
    assert new_onboarding(channel="C0SHARED").conversation_id == "C0SHARED"


def test_a_second_open_onboarding_in_a_channel_is_refused(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    new_onboarding(channel="C0SHARED", state="terms_accepted")

    with pytest.raises(OpenOnboardingExists):
        add_onboarding(uow, "C0SHARED")
    with uow() as unit:
        assert len(unit.onboardings.list_open()) == 1
        assert len(unit.clients.for_channel("C0SHARED")) == 1  # the whole unit rolled back


def test_ended_onboardings_leave_the_channel_free(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    for state in ("completed", "handoff", "cancelled", "expired", "unlinked"):
        new_onboarding(channel="C0SHARED", state=state)
    add_onboarding(uow, "C0SHARED")
    add_onboarding(uow, "C0OTHER")

    with uow() as unit:
        assert len(unit.onboardings.list_open()) == 2


def test_two_processes_starting_at_once_make_one_onboarding(
    database_url: str, engine: Engine, cipher: TokenCipher
) -> None:
    """Each 'process' has its own engine; the second inserts while the first has flushed its
    onboarding but not committed, and loses once the first commits."""
    first_uow = unit_of_work_factory(engine, cipher)
    second_engine = make_engine(database_url)
    second_uow = unit_of_work_factory(second_engine, cipher)
    second_started = threading.Event()
    outcome: list[BaseException | Onboarding] = []

    def second_process() -> None:
        second_started.set()
        try:
            outcome.append(add_onboarding(second_uow, "C0SHARED"))
        except BaseException as error:  # noqa: BLE001 - the test looks at what it was
            outcome.append(error)

    try:
        with first_uow() as unit:
            client = unit.clients.add(
                Client(name="Bakkerij", workspace_id="T0CUSTOMER", conversation_id="C0SHARED")
            )
            assert client.id is not None
            unit.onboardings.add(
                Onboarding(client_id=client.id, state="invited", started_by="U0MANAGER")
            )
            racer = threading.Thread(target=second_process)
            racer.start()
            second_started.wait(timeout=5)
            racer.join(timeout=0.5)  # it waits for this transaction (the index, or SQLite's lock)
            assert racer.is_alive()
            unit.commit()
        racer.join(timeout=20)
    finally:
        second_engine.dispose()

    assert len(outcome) == 1 and isinstance(outcome[0], OpenOnboardingExists)
    with first_uow() as unit:
        assert len(unit.onboardings.list_open()) == 1
