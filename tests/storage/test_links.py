"""The consuming API for payroll-sync jobs, and the link queries of the link maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payroll.nmbrs_soap.model import Company
from storage.links import (
    ACTIVE,
    AUDIT_CREDENTIALS_READ,
    NEEDS_RELINK,
    UNLINKED,
    CompanyRef,
    LinkNotActive,
    LinkReader,
    change_status,
    ended_onboardings_to_erase,
    link_state,
    link_summary,
    replace_companies,
)
from storage.repository import NotFound

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
COMPANIES = [
    Company(id="11", number=1, name="Acme BV", guid="guid-11"),
    Company(id="12", number=2, name="Acme Retail", guid="guid-12"),
]


@pytest.fixture
def make_link(uow, new_onboarding):
    def create(*, token: str = TOKEN, channel: str = "C0SHARED") -> int:
        onboarding = new_onboarding(channel=channel, state="completed")
        with uow() as unit:
            link = unit.links.create(
                onboarding=unit.onboardings.require(onboarding.id),
                username="loon@acme.nl",
                token=token,
                domain="acme",
                companies=COMPANIES,
            )
            unit.commit()
        return link.id

    return create


def mark(uow, link_id: int, status: str) -> None:
    with uow() as unit:
        link = unit.links.require(link_id)
        assert change_status(
            unit,
            link_id,
            expected_status=link.status,
            expected_token=link.encrypted_secret,
            status=status,
            problem=None,
        )
        unit.commit()


def reads_of(uow, link_id: int):
    with uow() as unit:
        return [e for e in unit.audit.for_link(link_id) if e.kind == AUDIT_CREDENTIALS_READ]


def test_an_active_link_is_read_with_its_decrypted_token_and_companies(uow, make_link):
    link_id = make_link()
    link = LinkReader(uow, reader="payroll-sync").read(link_id)
    assert (link.username, link.token, link.domain) == ("loon@acme.nl", TOKEN, "acme")
    assert link.client_name == "Bakkerij De Korst"
    assert [(c.id, c.guid) for c in link.companies] == [("11", "guid-11"), ("12", "guid-12")]


def test_every_read_is_audited_with_the_reader_and_purpose(uow, make_link):
    link_id = make_link()
    reader = LinkReader(uow, reader="payroll-sync")
    reader.read(link_id, purpose="monthly wage run")
    reader.read(link_id)
    reads = reads_of(uow, link_id)
    assert [event.actor for event in reads] == ["payroll-sync", "payroll-sync"]
    assert reads[0].detail == {"reader": "payroll-sync", "purpose": "monthly wage run"}
    assert TOKEN not in str([event.detail for event in reads])


def test_a_link_needing_a_relink_gives_no_credentials_and_no_read_is_recorded(uow, make_link):
    link_id = make_link()
    mark(uow, link_id, NEEDS_RELINK)
    with pytest.raises(LinkNotActive) as refused:
        LinkReader(uow, reader="payroll-sync").read(link_id)
    assert refused.value.state == NEEDS_RELINK
    assert TOKEN not in str(refused.value)
    assert reads_of(uow, link_id) == []


def test_an_unlinked_link_gives_no_credentials(uow, make_link):
    link_id = make_link()
    with uow() as unit:
        unit.links.unlink(unit.links.require(link_id), actor="cli")
        unit.commit()
    with pytest.raises(LinkNotActive) as refused:
        LinkReader(uow, reader="payroll-sync").read(link_id)
    assert refused.value.state == UNLINKED


def test_an_unknown_link_is_not_found(uow):
    with pytest.raises(NotFound):
        LinkReader(uow, reader="payroll-sync").read(404)


def test_active_links_are_read_one_at_a_time_and_skip_the_others(uow, make_link):
    first, broken, second = make_link(), make_link(channel="C0OTHER"), make_link(channel="C0THIRD")
    mark(uow, broken, NEEDS_RELINK)
    reader = LinkReader(uow, reader="payroll-sync")
    links = reader.active_links()
    assert next(links).link_id == first
    assert len(reads_of(uow, first)) == 1 and reads_of(uow, second) == []
    assert [link.link_id for link in links] == [second]
    assert reads_of(uow, broken) == []


def test_a_read_link_never_shows_its_token(uow, make_link):
    link = LinkReader(uow, reader="payroll-sync").read(make_link())
    assert TOKEN not in repr(link) and TOKEN not in str(link)


def test_the_reader_must_have_a_name_that_fits_the_audit_trail(uow):
    with pytest.raises(ValueError):
        LinkReader(uow, reader=" ")
    with pytest.raises(ValueError):
        LinkReader(uow, reader="x" * 65)


def test_a_status_change_happens_once_and_only_for_the_token_checked(uow, make_link):
    link_id = make_link()
    with uow() as unit:
        checked = unit.links.require(link_id).encrypted_secret
    move = {
        "expected_status": ACTIVE,
        "status": NEEDS_RELINK,
        "problem": {"reason": "wrong_credentials"},
    }
    with uow() as unit:
        assert not change_status(unit, link_id, expected_token=b"another token", **move)
        assert change_status(unit, link_id, expected_token=checked, **move)
        unit.commit()
    with uow() as unit:
        assert not change_status(unit, link_id, expected_token=checked, **move)
        link = unit.links.require(link_id)
    assert link_state(link) == NEEDS_RELINK
    assert link.problem == {"reason": "wrong_credentials"}


def test_replacing_companies_adds_removes_and_keeps(uow, make_link):
    link_id = make_link()
    wanted = [
        CompanyRef(id="12", number=2, name="Acme Retail", guid=None),
        CompanyRef(id="13", number=3, name="Acme Logistics", guid="guid-13"),
    ]
    with uow() as unit:
        added, removed = replace_companies(unit, link_id, wanted)
        unit.commit()
    assert [int(row.provider_company_ref) for row in added] == [13]
    assert [int(row.provider_company_ref) for row in removed] == [11]
    with uow() as unit:
        rows = unit.links.companies(link_id)
    assert [(int(row.provider_company_ref), row.guid) for row in rows] == [
        (12, "guid-12"),
        (13, "guid-13"),
    ]


def test_the_summary_of_one_link_holds_its_client_and_companies(uow, make_link):
    link_id = make_link()
    with uow() as unit:
        summary = link_summary(unit, link_id)
        with pytest.raises(NotFound):
            link_summary(unit, 404)
    assert summary.client.name == "Bakkerij De Korst"
    assert [int(company.provider_company_ref) for company in summary.companies] == [11, 12]


def test_onboardings_to_erase_ended_in_time_and_were_not_erased_yet(uow, new_onboarding):
    ended = datetime(2025, 1, 10, tzinfo=UTC)
    ids = {}
    for name, state, moment in [
        ("old_cancelled", "cancelled", ended),
        ("recent_expired", "expired", ended + timedelta(days=20)),
        ("old_completed", "completed", ended),
        ("old_erased", "cancelled", ended),
    ]:
        onboarding = new_onboarding(state=state)
        with uow() as unit:
            row = unit.onboardings.require(onboarding.id)
            row.last_progress_at = moment
            if name == "old_erased":
                row.data_erased_at = moment
            unit.commit()
        ids[name] = onboarding.id
    with uow() as unit:
        found = ended_onboardings_to_erase(
            unit,
            states=frozenset({"cancelled", "expired"}),
            ended_before=ended + timedelta(days=10),
        )
    assert [onboarding.id for onboarding in found] == [ids["old_cancelled"]]
