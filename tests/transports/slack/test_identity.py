"""Who is an account manager: the rule on what Slack says about a person, and the gate."""

from __future__ import annotations

from bot.transports.slack.identity import (
    REFUSED_EXTERNAL,
    REFUSED_NOT_A_MEMBER,
    REFUSED_NOT_IN_GROUP,
    REFUSED_UNKNOWN,
    ManagerGate,
    SlackPerson,
    manager_refusal,
)


def test_only_members_of_our_own_workspace_are_account_managers() -> None:
    ours = SlackPerson("U0MANAGER", "T0OURS")
    assert manager_refusal(ours, home_team="T0OURS", group_members=None) is None
    external = SlackPerson("U0CUSTOMER", "T0CUSTOMER")
    assert manager_refusal(external, home_team="T0OURS", group_members=None) == REFUSED_EXTERNAL
    guest = SlackPerson("U0GUEST", "T0OURS", is_guest=True)
    assert manager_refusal(guest, home_team="T0OURS", group_members=None) == REFUSED_NOT_A_MEMBER


def test_with_a_group_set_only_its_members_are_account_managers() -> None:
    person = SlackPerson("U0OTHER", "T0OURS")
    members = frozenset({"U0MANAGER"})
    assert manager_refusal(person, home_team="T0OURS", group_members=members) == (
        REFUSED_NOT_IN_GROUP
    )


async def test_the_gate_caches_the_group_and_refuses_when_slack_cannot_say() -> None:
    group_lookups: list[str] = []

    async def home_team() -> str:
        return "T0OURS"

    async def person(user_id: str) -> SlackPerson:
        if user_id == "U0BROKEN":
            raise ConnectionError("Slack unreachable")
        return SlackPerson(user_id, "T0OURS")

    async def group(group_id: str) -> frozenset[str]:
        group_lookups.append(group_id)
        return frozenset({"U0MANAGER"})

    gate = ManagerGate(
        home_team=home_team, lookup_person=person, lookup_group=group, group_id="S0MANAGERS"
    )
    assert await gate.refusal("U0MANAGER") is None
    assert await gate.refusal("U0OTHER") == REFUSED_NOT_IN_GROUP
    assert await gate.refusal("U0BROKEN") == REFUSED_UNKNOWN
    assert group_lookups == ["S0MANAGERS"]
