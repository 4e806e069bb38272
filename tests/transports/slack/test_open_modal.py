"""A button's modal opens with the step's screen when the step answers in time, counted from the
click's arrival; else with a working view at once, so that the trigger (3 s) is not lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.core.model import Actor
from bot.core.screens import Outcome, UnavailableScreen
from bot.transports.slack.http import request_arrived
from bot.transports.slack.modal_routines import OPEN_AT_ONCE_SECONDS, open_modal
from bot.transports.slack.views.onboarding import render

CUSTOMER = Actor(user_id="U0CUSTOMER", team_id="T0THEIRS", channel_id="C0SHARED")


class Slack:
    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []
        self.updated: list[dict[str, Any]] = []

    async def views_open(self, *, trigger_id: str, view: Any) -> dict[str, Any]:
        self.opened.append(view.to_dict() if hasattr(view, "to_dict") else view)
        return {"view": {"id": "V1"}}

    async def views_update(self, **arguments: Any) -> dict[str, Any]:
        self.updated.append(arguments)
        return {"view": {"id": "V1"}}

    async def chat_update(self, **arguments: Any) -> dict[str, Any]:
        return {}


def step(onboarding_id: int, actor: Actor) -> Outcome:
    return Outcome(screen=UnavailableScreen(), language="en")


def drawn(outcome: Outcome) -> Any:
    return render(outcome, private_metadata=None)


async def opened_after(waited: float) -> Slack:
    slack = Slack()

    async def not_opened() -> None:
        raise AssertionError("the modal opened")

    request_arrived.set(time.monotonic() - waited)
    await open_modal(
        slack,  # type: ignore[arg-type]
        trigger_id="T1",
        language="en",
        actor=CUSTOMER,
        onboarding_id=7,
        use_case=step,
        view_of=drawn,
        not_opened=not_opened,
    )
    return slack


def test_a_click_answered_at_once_opens_with_the_steps_screen_and_no_working_view() -> None:
    slack = asyncio.run(opened_after(0.0))
    assert len(slack.opened) == 1 and not slack.updated
    assert slack.opened[0] == drawn(step(7, CUSTOMER)).to_dict()


def test_a_click_whose_ack_came_late_opens_a_working_view_at_once_then_the_screen() -> None:
    slack = asyncio.run(opened_after(OPEN_AT_ONCE_SECONDS + 0.5))
    assert len(slack.opened) == 1 and len(slack.updated) == 1
    assert slack.opened[0] != drawn(step(7, CUSTOMER)).to_dict()
