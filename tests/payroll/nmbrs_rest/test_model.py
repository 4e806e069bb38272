"""Scopes and grants: what a link needs, what a consent gave, what is missing and its data."""

from __future__ import annotations

import pytest

from payroll.nmbrs_rest.model import (
    REQUIRED_SCOPES,
    Grant,
    covers,
    describe,
    missing_scopes,
)


def test_the_required_scopes_are_offline_access_and_read_scopes_only():
    assert REQUIRED_SCOPES[0] == "offline_access"
    assert all(scope.endswith(".read") for scope in REQUIRED_SCOPES[1:])
    assert "openid" not in REQUIRED_SCOPES


def test_a_write_scope_covers_its_read_twin_but_not_the_other_way():
    assert covers({"company.info"}, "company.info.read")
    assert not covers({"company.info.read"}, "company.info")
    assert not covers({"employee.info"}, "employee.employment.read")


def test_missing_scopes_are_the_required_ones_not_granted_in_the_required_order():
    granted = set(REQUIRED_SCOPES) - {"employee.employment.read", "company.document.read"}

    assert missing_scopes(granted) == ["company.document.read", "employee.employment.read"]
    assert missing_scopes({"employee.employment", *granted, "company.document.read"}) == []


def test_missing_scopes_are_described_by_the_data_they_would_read():
    assert describe(["employee.employment.read", "company.document.read"]) == {
        "employee.employment.read": ["contracts", "employments", "salaries", "schedules"],
        "company.document.read": ["wage_tax_files", "wage_components_per_run"],
    }
    assert describe(["employee.leave.read"]) == {"employee.leave.read": ["employee.leave.read"]}


def test_a_grant_goes_to_its_secret_and_back_and_never_shows_its_tokens():
    grant = Grant("access-123", "refresh-456", 1_800_000_000.0, ("offline_access",))

    assert Grant.from_secret(grant.to_secret()) == grant
    for text in (repr(grant), str(grant)):
        assert "access-123" not in text and "refresh-456" not in text


def test_a_secret_that_is_no_grant_is_refused_without_echoing_it():
    with pytest.raises(ValueError) as refused:
        Grant.from_secret("username-and-token-from-soap")

    assert "username-and-token" not in str(refused.value)


def test_a_grant_knows_when_it_expires_within_a_margin():
    grant = Grant("a", "r", expires_at=1000.0, scopes=())

    assert grant.expires_within(300, now=700.0)
    assert not grant.expires_within(300, now=699.0)
