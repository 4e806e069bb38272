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
    managers = frozenset({"U0MANAGER", "U0CUSTOMER", "U0GUEST"})
    assert manager_refusal(ours, home_team="T0OURS", group_members=managers) is None
    external = Person("U0CUSTOMER", "T0CUSTOMER")
    assert manager_refusal(external, home_team="T0OURS", group_members=managers) == (
        REFUSED_EXTERNAL
    )
    guest = Person("U0GUEST", "T0OURS", is_guest=True)
    assert manager_refusal(guest, home_team="T0OURS", group_members=managers) == (
        REFUSED_NOT_A_MEMBER
    )


def test_with_a_group_set_only_its_members_are_account_managers() -> None:
    person = Person("U0OTHER", "T0OURS")
    members = frozenset({"U0MANAGER"})
    assert manager_refusal(person, home_team="T0OURS", group_members=members) == (
        REFUSED_NOT_IN_GROUP
    )


def test_an_empty_group_lets_nobody_in() -> None:
    ours = Person("U0MANAGER", "T0OURS")
    assert manager_refusal(ours, home_team="T0OURS", group_members=frozenset()) == (
        REFUSED_NOT_IN_GROUP
    )


def test_every_full_member_is_an_account_manager_only_when_chosen() -> None:
    ours = Person("U0COLLEAGUE", "T0OURS")
    everyone = {"group_members": frozenset(), "every_full_member": True}
    assert manager_refusal(ours, home_team="T0OURS", **everyone) is None
    guest = Person("U0GUEST", "T0OURS", is_guest=True)
    assert manager_refusal(guest, home_team="T0OURS", **everyone) == REFUSED_NOT_A_MEMBER
    external = Person("U0CUSTOMER", "T0CUSTOMER")
    assert manager_refusal(external, home_team="T0OURS", **everyone) == REFUSED_EXTERNAL
