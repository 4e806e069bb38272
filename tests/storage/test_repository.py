from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from payroll.nmbrs_soap.model import Company
from storage.crypto import EncryptionKeyError, TokenCipher, generate_key
from storage.models import Client, Onboarding, PayrollLink
from storage.repository import (
    AUDIT_LINK_UNLINKED,
    LinkRepository,
    NotFound,
    SqlUnitOfWork,
    StaleUpdate,
    UnitOfWorkFactory,
    unit_of_work_factory,
)

TOKEN = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
MOMENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
COMPANIES = [
    Company(id=101, number=1, name="Bakkerij De Korst B.V.", guid="6c2e0a7e-guid-101"),
    Company(id=102, number=2, name="De Korst Holding B.V.", guid=None),
]

NewOnboarding = Callable[..., Onboarding]


def link_onboarding(uow: UnitOfWorkFactory, onboarding: Onboarding) -> int:
    with uow() as unit:
        link = unit.links.create(
            onboarding=onboarding,
            username="api@korst.nl",
            token=TOKEN,
            domain="korst",
            companies=COMPANIES,
        )
        unit.commit()
    assert link.id is not None
    return link.id


def test_every_table_round_trips(uow: UnitOfWorkFactory) -> None:
    with uow() as unit:
        client = unit.clients.add(
            Client(
                name="Bakkerij De Korst",
                workspace_id="T0CUSTOMER",
                conversation_id="C0SHARED",
                contact_user_id="U0CUSTOMER",
                language="en",
                created_at=MOMENT,
            )
        )
        assert client.id is not None
        onboarding = unit.onboardings.add(
            Onboarding(
                client_id=client.id,
                state="credentials_verified",
                step_data={"package": "nmbrs", "companies_seen": [{"id": 101, "number": 1}]},
                started_by="U0MANAGER",
                conversation_id="C0SHARED",
                invite_message_ref="1700000000.000100",
                created_at=MOMENT,
                updated_at=MOMENT,
                last_progress_at=MOMENT,
                expires_at=MOMENT + timedelta(days=14),
                blocked_until=MOMENT + timedelta(minutes=15),
            )
        )
        assert onboarding.id is not None
        unit.onboardings.set_pending_token(onboarding, TOKEN)
        unit.terms.record(
            onboarding.id,
            terms_version="2026-01",
            person_id="U0CUSTOMER",
            workspace_id="T0CUSTOMER",
            accepted_at=MOMENT,
        )
        link = unit.links.create(
            onboarding=onboarding,
            username="api@korst.nl",
            token=TOKEN,
            domain="korst",
            companies=COMPANIES,
        )
        unit.audit.record(
            "link_created",
            actor="U0CUSTOMER",
            onboarding_id=onboarding.id,
            link_id=link.id,
            detail={"companies": [101, 102]},
            at=MOMENT,
        )
        unit.commit()

    with uow() as unit:
        assert unit.clients.get(client.id) == Client(
            id=client.id,
            name="Bakkerij De Korst",
            workspace_id="T0CUSTOMER",
            conversation_id="C0SHARED",
            contact_user_id="U0CUSTOMER",
            language="en",
            created_at=MOMENT,
        )
        stored = unit.onboardings.require(onboarding.id)
        assert stored.state == "credentials_verified"
        assert stored.step_data == {
            "package": "nmbrs",
            "companies_seen": [{"id": 101, "number": 1}],
        }
        assert stored.started_by == "U0MANAGER"
        assert (stored.conversation_id, stored.invite_message_ref) == (
            "C0SHARED",
            "1700000000.000100",
        )
        assert stored.created_at == MOMENT and stored.created_at.tzinfo is not None
        assert stored.expires_at == MOMENT + timedelta(days=14)
        assert stored.blocked_until == MOMENT + timedelta(minutes=15)
        assert unit.onboardings.pending_token(stored) == TOKEN

        [acceptance] = unit.terms.for_onboarding(onboarding.id)
        assert (acceptance.terms_version, acceptance.person_id, acceptance.workspace_id) == (
            "2026-01",
            "U0CUSTOMER",
            "T0CUSTOMER",
        )
        assert acceptance.accepted_at == MOMENT

        stored_link = unit.links.for_onboarding(onboarding.id)
        assert stored_link is not None
        assert (
            stored_link.provider,
            stored_link.account_label,
            stored_link.environment["domain"],
        ) == (
            "nmbrs",
            "api@korst.nl",
            "korst",
        )
        assert stored_link.client_id == client.id and stored_link.revoked_at is None
        assert unit.links.token(stored_link) == TOKEN
        assert [
            (int(c.provider_company_ref), c.guid, c.number, c.name)
            for c in unit.links.companies(link.id)
        ] == [
            (101, "6c2e0a7e-guid-101", 1, "Bakkerij De Korst B.V."),
            (102, None, 2, "De Korst Holding B.V."),
        ]

        [event] = unit.audit.for_onboarding(onboarding.id)
        assert (event.kind, event.actor, event.link_id, event.detail, event.at) == (
            "link_created",
            "U0CUSTOMER",
            link.id,
            {"companies": [101, 102]},
            MOMENT,
        )


def test_a_stale_update_raises_and_keeps_the_first_write(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding_id = new_onboarding().id
    with uow() as first, uow() as second:
        seen_by_first = first.onboardings.require(onboarding_id)
        seen_by_second = second.onboardings.require(onboarding_id)

        seen_by_first.state = "terms_accepted"
        first.commit()

        seen_by_second.state = "cancelled"
        with pytest.raises(StaleUpdate):
            second.commit()

    with uow() as unit:
        stored = unit.onboardings.require(onboarding_id)
        assert stored.state == "terms_accepted"
        assert stored.version == seen_by_first.version


def test_a_version_seen_earlier_that_is_no_longer_current_is_stale(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    with uow() as unit:
        unit.onboardings.require(onboarding.id).state = "terms_accepted"
        unit.commit()

    with uow() as unit, pytest.raises(StaleUpdate, match="not 1"):
        unit.onboardings.require(onboarding.id, expected_version=onboarding.version)


def test_every_update_bumps_the_version(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    with uow() as unit:
        stored = unit.onboardings.require(onboarding.id, expected_version=onboarding.version)
        stored.step_data["package"] = "nmbrs"
        unit.commit()
    assert stored.version == onboarding.version + 1


def test_an_exception_rolls_the_whole_unit_back(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    with pytest.raises(RuntimeError), uow() as unit:
        unit.onboardings.require(onboarding.id).state = "cancelled"
        unit.audit.record("cancelled", actor="U0MANAGER", onboarding_id=onboarding.id)
        raise RuntimeError("the use case failed half-way")

    with uow() as unit:
        assert unit.onboardings.require(onboarding.id).state == "invited"
        assert unit.audit.for_onboarding(onboarding.id) == []


def test_nothing_is_stored_without_commit(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    with uow() as unit:
        unit.onboardings.require(onboarding.id).state = "cancelled"

    with uow() as unit:
        assert unit.onboardings.require(onboarding.id).state == "invited"


def test_an_unknown_onboarding_is_not_found(uow: UnitOfWorkFactory) -> None:
    with uow() as unit:
        assert unit.onboardings.get(404) is None
        with pytest.raises(NotFound, match="onboarding 404"):
            unit.onboardings.require(404)


def test_open_onboardings_leave_out_the_closed_ones(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    open_one = new_onboarding(channel="C0SHARED", state="terms_accepted")
    new_onboarding(channel="C0OTHER", state="completed")
    new_onboarding(channel="C0THIRD", state="cancelled")
    new_onboarding(channel="C0FOURTH", state="unlinked")

    with uow() as unit:
        assert [(o.id, c.conversation_id) for o, c in unit.onboardings.list_open()] == [
            (open_one.id, "C0SHARED")
        ]
        found = unit.onboardings.open_for_channel("C0SHARED")
        assert found is not None and found.id == open_one.id
        assert unit.onboardings.open_for_channel("C0OTHER") is None
        assert unit.onboardings.open_for_channel("C0FOURTH") is None
        assert len(unit.onboardings.list_recent()) == 4


def test_onboardings_past_their_expiry_are_due(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    due = new_onboarding(channel="C0DUE")
    later = new_onboarding(channel="C0LATER")
    with uow() as unit:
        unit.onboardings.require(due.id).expires_at = MOMENT
        unit.onboardings.require(later.id).expires_at = MOMENT + timedelta(days=1)
        unit.commit()

    with uow() as unit:
        assert [o.id for o in unit.onboardings.due_for_expiry(MOMENT)] == [due.id]


def test_the_database_holds_no_plaintext_token(
    uow: UnitOfWorkFactory, engine: Engine, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    link_onboarding(uow, onboarding)
    pending = new_onboarding(channel="C0PENDING")
    with uow() as unit:
        unit.onboardings.set_pending_token(unit.onboardings.require(pending.id), TOKEN)
        unit.commit()

    with engine.connect() as connection:
        link_rows = connection.execute(text("SELECT * FROM payrolllink")).all()
        onboarding_rows = connection.execute(text("SELECT * FROM onboarding")).all()
    raw = repr(link_rows + onboarding_rows)
    assert "api@korst.nl" in raw  # the read saw the rows
    assert TOKEN not in raw
    assert all(
        TOKEN.encode() not in bytes(value)
        for row in link_rows
        for value in row
        if isinstance(value, bytes | memoryview)
    )


def test_rotation_moves_every_token_to_the_newest_key(
    engine: Engine, new_onboarding: NewOnboarding
) -> None:
    old_key, new_key = generate_key(), generate_key()
    with_old_key = unit_of_work_factory(engine, TokenCipher([old_key]))
    onboarding = new_onboarding()
    link_id = link_onboarding(with_old_key, onboarding)
    pending = new_onboarding(channel="C0PENDING")
    with with_old_key() as unit:
        unit.onboardings.set_pending_token(unit.onboardings.require(pending.id), TOKEN)
        unit.commit()

    with with_old_key() as unit:
        version_in_the_customers_view = unit.onboardings.require(pending.id).version

    with SqlUnitOfWork(engine, TokenCipher([new_key, old_key])) as unit:
        assert unit.rotate_tokens() == 2
        unit.commit()

    with SqlUnitOfWork(engine, TokenCipher([new_key])) as unit:
        assert unit.links.token(unit.links.require(link_id)) == TOKEN
        still_current = unit.onboardings.require(
            pending.id, expected_version=version_in_the_customers_view
        )
        assert unit.onboardings.pending_token(still_current) == TOKEN


def test_a_relink_committed_while_the_rotation_runs_is_not_overwritten(
    engine: Engine, new_onboarding: NewOnboarding, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = generate_key(), generate_key()
    with_old_key = unit_of_work_factory(engine, TokenCipher([old_key]))
    link_id = link_onboarding(with_old_key, new_onboarding())
    relinked = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    both = TokenCipher([new_key, old_key])
    read_tokens = LinkRepository.with_token

    def relink_between_read_and_write(self: LinkRepository) -> list[PayrollLink]:
        links = read_tokens(self)
        with SqlUnitOfWork(engine, both) as other:  # the customer's relink commits now
            link = other.links.require(link_id)
            link.encrypted_secret = both.encrypt(relinked)
            other.commit()
        return links

    monkeypatch.setattr(LinkRepository, "with_token", relink_between_read_and_write)
    with SqlUnitOfWork(engine, both) as unit:
        assert unit.rotate_tokens() == 0
        unit.commit()

    with SqlUnitOfWork(engine, TokenCipher([new_key])) as unit:
        assert unit.links.token(unit.links.require(link_id)) == relinked


def test_unlinking_erases_the_token_and_keeps_the_audit_trail(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    link_id = link_onboarding(uow, onboarding)

    with uow() as unit:
        assert unit.links.unlink(unit.links.require(link_id), actor="cli", at=MOMENT)
        unit.commit()

    with uow() as unit:
        link = unit.links.require(link_id)
        assert link.encrypted_secret is None and unit.links.token(link) is None
        assert link.revoked_at == MOMENT
        [event] = unit.audit.for_link(link_id)
        assert (event.kind, event.actor, event.onboarding_id) == (
            AUDIT_LINK_UNLINKED,
            "cli",
            onboarding.id,
        )
        assert TOKEN not in repr(event.detail)
        assert not unit.links.unlink(link, actor="cli"), "a second unlink changes nothing"
        assert len(unit.links.companies(link_id)) == 2


def test_link_summaries_include_unlinked_links_with_their_client_and_companies(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    first = link_onboarding(uow, new_onboarding(channel="C0ONE"))
    second = link_onboarding(uow, new_onboarding(channel="C0TWO"))
    with uow() as unit:
        unit.links.unlink(unit.links.require(first), actor="cli")
        unit.commit()

    with uow() as unit:
        summaries = unit.links.list_summaries()
    assert [(s.link.id, s.client.conversation_id) for s in summaries] == [
        (first, "C0ONE"),
        (second, "C0TWO"),
    ]
    assert summaries[0].link.revoked_at is not None and summaries[1].link.revoked_at is None
    assert [int(c.provider_company_ref) for c in summaries[1].companies] == [101, 102]


def test_the_audit_trail_refuses_secrets(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    with uow() as unit, pytest.raises(ValueError, match="may not hold secrets: token"):
        unit.audit.record(
            "credentials_checked",
            actor="U0CUSTOMER",
            onboarding_id=onboarding.id,
            detail={"Token": TOKEN},
        )


def test_tokens_need_a_key(engine: Engine, new_onboarding: NewOnboarding) -> None:
    onboarding = new_onboarding()
    with SqlUnitOfWork(engine, None) as unit, pytest.raises(EncryptionKeyError):
        unit.onboardings.set_pending_token(unit.onboardings.require(onboarding.id), TOKEN)


def test_two_concurrent_updates_of_one_onboarding_leave_exactly_one_result(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding_id = new_onboarding().id
    both_have_read = threading.Barrier(2, timeout=10)
    outcomes: dict[str, str] = {}

    def submit(state: str) -> None:
        try:
            with uow() as unit:
                onboarding = unit.onboardings.require(onboarding_id)
                both_have_read.wait()
                onboarding.state = state
                unit.audit.record(state, actor="U0CUSTOMER", onboarding_id=onboarding_id)
                unit.commit()
            outcomes[state] = "written"
        except StaleUpdate:
            outcomes[state] = "stale"

    threads = [threading.Thread(target=submit, args=(s,)) for s in ("cancelled", "terms_accepted")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["stale", "written"]
    [winner] = [state for state, outcome in outcomes.items() if outcome == "written"]
    with uow() as unit:
        assert unit.onboardings.require(onboarding_id).state == winner
        assert [event.kind for event in unit.audit.for_onboarding(onboarding_id)] == [winner]
