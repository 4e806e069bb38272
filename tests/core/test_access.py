"""Who may act on a client's onboarding and link, and who may use the account manager's tools:
the rules on what the chat tool says about a person."""

from __future__ import annotations

from bot.core.access import (
    NOT_A_MEMBER,
    OTHER_ORGANISATION,
    REFUSED_EXTERNAL,
    REFUSED_NOT_A_MEMBER,
    REFUSED_NOT_IN_GROUP,
    WRONG_CHANNEL,
    ClientPlace,
    Person,
    customer_refusal,
    manager_refusal,
)
from bot.core.model import Actor

CLIENT = ClientPlace(workspace_id="T0CUSTOMER", conversation_id="C0SHARED")
IN_CHANNEL = frozenset({"U0CUSTOMER", "U0MANAGER", "U0THIRD"})


def in_channel(channel_id: str, user_id: str) -> bool:
    return channel_id == "C0SHARED" and user_id in IN_CHANNEL


def test_a_person_of_the_clients_organisation_in_its_channel_may_act() -> None:
    customer = Actor("U0CUSTOMER", team_id="T0CUSTOMER", channel_id="C0SHARED")
    assert customer_refusal(customer, CLIENT, in_channel) is None


def test_our_own_staff_and_a_third_organisation_in_the_channel_are_refused() -> None:
    ours = Actor("U0MANAGER", team_id="T0OURS", channel_id="C0SHARED")
    third = Actor("U0THIRD", team_id="T0THIRD", channel_id="C0SHARED")
    assert customer_refusal(ours, CLIENT, in_channel) == OTHER_ORGANISATION
    assert customer_refusal(third, CLIENT, in_channel) == OTHER_ORGANISATION


def test_a_person_whose_organisation_is_unknown_is_refused() -> None:
    unknown = Actor("U0CUSTOMER", team_id=None)
    assert customer_refusal(unknown, CLIENT, in_channel) == OTHER_ORGANISATION


def test_the_account_manager_given_passes_the_organisation_check_but_not_the_channels() -> None:
    manager = Actor("U0MANAGER", team_id="T0OURS", channel_id="C0SHARED")
    assert customer_refusal(manager, CLIENT, in_channel, account_manager="U0MANAGER") is None
    colleague = Actor("U0COLLEAGUE", team_id="T0OURS", channel_id="C0SHARED")
    assert (
        customer_refusal(colleague, CLIENT, in_channel, account_manager="U0MANAGER")
        == OTHER_ORGANISATION
    )
    elsewhere = Actor("U0MANAGER", team_id="T0OURS", channel_id="C0OTHER")
    assert (
        customer_refusal(elsewhere, CLIENT, in_channel, account_manager="U0MANAGER")
        == WRONG_CHANNEL
    )


def test_a_person_of_the_client_outside_its_channel_is_refused() -> None:
    stranger = Actor("U0STRANGER", team_id="T0CUSTOMER")
    assert customer_refusal(stranger, CLIENT, in_channel) == NOT_A_MEMBER


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
