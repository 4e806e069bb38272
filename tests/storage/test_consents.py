"""Consent requests: the state kept only as its hash, the verifier only encrypted, each consumed
once, also by two processes at the same moment, and erased with their onboarding."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from storage.consents import PURPOSE_ONBOARDING, ConsumedConsent
from storage.crypto import TokenCipher
from storage.db import make_engine
from storage.models import Onboarding
from storage.repository import UnitOfWorkFactory, unit_of_work_factory

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STATE = "Zq3-secret-state-0123456789abcdefghijklmnopqrstu"
VERIFIER = "pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFG"


def issue(uow: UnitOfWorkFactory, onboarding_id: int, state: str = STATE) -> None:
    with uow() as unit:
        unit.consents.issue(
            state=state,
            onboarding_id=onboarding_id,
            purpose=PURPOSE_ONBOARDING,
            step=3,
            person_id="U0CUSTOMER",
            workspace_id="T0CUSTOMER",
            view_key="consent-abc",
            code_verifier=VERIFIER,
            now=NOW,
        )
        unit.commit()


def consume(uow: UnitOfWorkFactory, state: str = STATE, now: datetime = NOW):
    with uow() as unit:
        consumed = unit.consents.consume(state, now=now)
        unit.commit()
    return consumed


def test_a_request_is_consumed_once_with_what_it_was_issued_for(
    uow: UnitOfWorkFactory, new_onboarding: Callable[..., Onboarding]
) -> None:
    onboarding = new_onboarding()
    assert onboarding.id is not None
    issue(uow, onboarding.id)
    assert consume(uow) == ConsumedConsent(
        onboarding_id=onboarding.id,
        purpose="onboarding",
        step=3,
        person_id="U0CUSTOMER",
        workspace_id="T0CUSTOMER",
        view_key="consent-abc",
        code_verifier=VERIFIER,
    )
    assert consume(uow) is None
    assert consume(uow, "another state") is None


def test_a_request_expires_after_ten_minutes(
    uow: UnitOfWorkFactory, new_onboarding: Callable[..., Onboarding]
) -> None:
    onboarding = new_onboarding()
    assert onboarding.id is not None
    issue(uow, onboarding.id)
    assert consume(uow, now=NOW + timedelta(minutes=10)) is None
    with uow() as unit:
        assert unit.consents.erase_expired(NOW + timedelta(minutes=10)) == 1


def test_neither_the_state_nor_the_verifier_is_stored_in_plaintext(
    engine: Engine, uow: UnitOfWorkFactory, new_onboarding: Callable[..., Onboarding]
) -> None:
    onboarding = new_onboarding()
    assert onboarding.id is not None
    issue(uow, onboarding.id)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM consentrequest")).all()
    dumped = repr(rows)
    assert STATE not in dumped and VERIFIER not in dumped
    assert VERIFIER.encode() not in b"".join(
        bytes(value) for row in rows for value in row if isinstance(value, bytes | memoryview)
    )


def test_the_requests_of_an_onboarding_are_erased_together(
    uow: UnitOfWorkFactory, new_onboarding: Callable[..., Onboarding]
) -> None:
    first, second = new_onboarding(channel="C0ONE"), new_onboarding(channel="C0TWO")
    assert first.id is not None and second.id is not None
    issue(uow, first.id, "state-one")
    issue(uow, first.id, "state-two")
    issue(uow, second.id, "state-three")
    with uow() as unit:
        assert unit.consents.erase_for_onboarding(first.id) == 2
        unit.commit()
    with uow() as unit:
        assert unit.consents.for_onboarding(first.id) == []
        assert len(unit.consents.for_onboarding(second.id)) == 1


def test_two_processes_consuming_one_state_at_once_get_it_once(
    database_url: str,
    engine: Engine,
    cipher: TokenCipher,
    uow: UnitOfWorkFactory,
    new_onboarding: Callable[..., Onboarding],
) -> None:
    """The second consumes while the first has updated the row but not committed; it waits for
    the first (the row lock, or SQLite's write lock) and then finds the request used."""
    onboarding = new_onboarding()
    assert onboarding.id is not None
    issue(uow, onboarding.id)
    second_engine = make_engine(database_url)
    second_uow = unit_of_work_factory(second_engine, cipher)
    outcome: list[object] = []

    def second_process() -> None:
        try:
            outcome.append(consume(second_uow))
        except BaseException as error:  # noqa: BLE001 - the test looks at what it was
            outcome.append(error)

    try:
        with unit_of_work_factory(engine, cipher)() as unit:
            first = unit.consents.consume(STATE, now=NOW)
            racer = threading.Thread(target=second_process)
            racer.start()
            racer.join(timeout=0.5)
            assert racer.is_alive()  # waiting for the first transaction
            unit.commit()
        racer.join(timeout=20)
    finally:
        second_engine.dispose()
    assert first is not None
    assert outcome == [None]
