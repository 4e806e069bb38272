"""The invite messages kept per onboarding, and the companies other links hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payroll.nmbrs_soap.model import Company
from storage.repository import HELD_ELSEWHERE_CHUNK, UnitOfWorkFactory
from tests.storage.test_repository import NewOnboarding

MOMENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def link(uow: UnitOfWorkFactory, new_onboarding: NewOnboarding, companies, channel: str):  # type: ignore[no-untyped-def]
    onboarding = new_onboarding(channel=channel, state="completed")
    with uow() as unit:
        created = unit.links.create(
            onboarding=unit.onboardings.require(onboarding.id),
            username="api@korst.nl",
            token="9a8b7c6d5e4f30211203f4e5d6c7b8a9",
            domain="korst",
            companies=companies,
        )
        unit.commit()
    return onboarding.id, created.id


def test_every_posted_invite_is_kept_oldest_first_and_once(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    onboarding = new_onboarding()
    with uow() as unit:
        row = unit.onboardings.require(onboarding.id)
        for minutes, ref in ((0, "1.1"), (1, "1.2"), (2, "1.2")):
            unit.onboardings.record_invite_message(
                row,
                conversation_id="C0SHARED",
                message_ref=ref,
                at=MOMENT + timedelta(minutes=minutes),
            )
        unit.commit()
    with uow() as unit:
        kept = [message.message_ref for message in unit.onboardings.invite_messages(onboarding.id)]
        assert kept == ["1.1", "1.2"]
        assert unit.onboardings.require(onboarding.id).invite_message_ref == "1.2"


def test_companies_held_by_another_link_are_found_by_ref_or_guid_across_chunks(
    uow: UnitOfWorkFactory, new_onboarding: NewOnboarding
) -> None:
    many = [Company(id=n, number=n, name=f"Klant {n:04d} B.V.") for n in range(1, 1200)]
    held = [
        Company(id=600, number=600, name="Klant 0600 B.V."),
        Company(id=9999, number=7, name="Bakkerij De Korst B.V.", guid="guid-7"),
    ]
    _, other = link(uow, new_onboarding, held, "C0OTHER")
    mine, _ = link(uow, new_onboarding, many[:1], "C0SHARED")
    with uow() as unit:
        refs = [str(company.id) for company in many]
        found = unit.links.held_elsewhere(
            "nmbrs", refs, guids=["guid-7"], except_onboarding_id=mine
        )
        assert [row.provider_company_ref for row, _ in found] == ["9999", "600"]
        assert {client.conversation_id for _, client in found} == {"C0OTHER"}
        assert len(refs) > 2 * HELD_ELSEWHERE_CHUNK
        # The link itself is not "elsewhere", and an unlinked one holds nothing any more.
        assert unit.links.linked_elsewhere(unit.links.require(other)) == []
        unit.links.unlink(unit.links.require(other), actor="U0MANAGER", at=MOMENT)
        unit.commit()
    with uow() as unit:
        assert unit.links.held_elsewhere("nmbrs", refs, except_onboarding_id=mine) == []
