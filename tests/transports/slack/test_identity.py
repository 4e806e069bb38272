"""The account manager gate: Slack's lookups, the group cached, unknown when Slack cannot say."""

from __future__ import annotations

from bot.core.access import REFUSED_NOT_IN_GROUP, REFUSED_UNKNOWN, Person
from bot.transports.slack.identity import ManagerGate


async def test_the_gate_caches_the_group_and_refuses_when_slack_cannot_say() -> None:
    group_lookups: list[str] = []

    async def home_team() -> str:
        return "T0OURS"

    async def person(user_id: str) -> Person:
        if user_id == "U0BROKEN":
            raise ConnectionError("Slack unreachable")
        return Person(user_id, "T0OURS")

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


async def test_a_gate_without_a_group_lets_nobody_in_and_a_star_every_full_member() -> None:
    async def home_team() -> str:
        return "T0OURS"

    async def person(user_id: str) -> Person:
        return Person(user_id, "T0OURS")

    async def group(group_id: str) -> frozenset[str]:
        raise AssertionError("no group to look up")

    def gate(group_id: str) -> ManagerGate:
        return ManagerGate(
            home_team=home_team, lookup_person=person, lookup_group=group, group_id=group_id
        )

    assert await gate("").refusal("U0MANAGER") == REFUSED_NOT_IN_GROUP
    assert await gate("*").refusal("U0COLLEAGUE") is None


async def test_the_gate_looks_a_person_up_once_a_minute_and_asks_again_after_a_failure() -> None:
    lookups: list[str] = []
    failing = {"U0FLAKY"}

    async def home_team() -> str:
        return "T0OURS"

    async def person(user_id: str) -> Person:
        lookups.append(user_id)
        if user_id in failing:
            failing.discard(user_id)
            raise ConnectionError("Slack unreachable")
        return Person(user_id, "T0OURS")

    async def group(group_id: str) -> frozenset[str]:
        return frozenset({"U0MANAGER", "U0FLAKY"})

    gate = ManagerGate(
        home_team=home_team, lookup_person=person, lookup_group=group, group_id="S0MANAGERS"
    )
    for _ in range(3):
        assert await gate.refusal("U0MANAGER") is None
    assert await gate.refusal("U0FLAKY") == REFUSED_UNKNOWN
    assert await gate.refusal("U0FLAKY") is None
    assert lookups == ["U0MANAGER", "U0FLAKY", "U0FLAKY"]
