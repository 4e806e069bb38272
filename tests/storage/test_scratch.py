from __future__ import annotations

from pathlib import Path

import pytest

from storage.models import Client, Onboarding
from storage.repository import StaleUpdate
from tests.storage.scratch import ScratchStorage


def test_scratch_storage_is_real_storage_that_disappears_afterwards() -> None:
    with ScratchStorage() as storage:
        with storage.unit_of_work() as uow:
            client = uow.clients.add(
                Client(name="Korst", workspace_id="T0CUSTOMER", conversation_id="C0SHARED")
            )
            assert client.id is not None
            onboarding = uow.onboardings.add(
                Onboarding(client_id=client.id, state="invited", started_by="U0MANAGER")
            )
            uow.onboardings.set_pending_token(onboarding, "a-token")
            uow.commit()

        with storage.unit_of_work() as first, storage.unit_of_work() as second:
            first.onboardings.require(onboarding.id).state = "terms_accepted"
            second.onboardings.require(onboarding.id).state = "cancelled"
            first.commit()
            with pytest.raises(StaleUpdate):
                second.commit()

        with storage.unit_of_work() as uow:
            stored = uow.onboardings.require(onboarding.id)
            assert stored.state == "terms_accepted"
            assert uow.onboardings.pending_token(stored) == "a-token"
        database = Path(storage.url.removeprefix("sqlite:///"))
        assert database.exists()

    assert not database.exists()
