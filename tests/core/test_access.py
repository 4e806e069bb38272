"""Who may use the account manager's tools: the rule on what the chat tool says about a person."""

from __future__ import annotations

from bot.core.access import (
    REFUSED_EXTERNAL,
    REFUSED_NOT_A_MEMBER,
    REFUSED_NOT_IN_GROUP,
    Person,
    manager_refusal,
)


def test_only_members_of_our_own_workspace_are_account_managers() -> None:
    ours = Person("U0MANAGER", "T0OURS")
    assert manager_refusal(ours, home_team="T0OURS", group_members=None) is None
    external = Person("U0CUSTOMER", "T0CUSTOMER")
    assert manager_refusal(external, home_team="T0OURS", group_members=None) == REFUSED_EXTERNAL
    guest = Person("U0GUEST", "T0OURS", is_guest=True)
    assert manager_refusal(guest, home_team="T0OURS", group_members=None) == REFUSED_NOT_A_MEMBER


def test_with_a_group_set_only_its_members_are_account_managers() -> None:
    person = Person("U0OTHER", "T0OURS")
    members = frozenset({"U0MANAGER"})
    assert manager_refusal(person, home_team="T0OURS", group_members=members) == (
        REFUSED_NOT_IN_GROUP
    )
