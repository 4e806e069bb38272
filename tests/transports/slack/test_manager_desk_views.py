"""The account manager's tools as Slack draws them (the App Home, the status thread's parent)
and the way back from a handoff (its modal, its invite): what a person reads and clicks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.clock import WorkingCalendar
from bot.core.flow import State
from bot.core.model import InviteStatus, StepRef
from bot.core.screens import HandoffScreen, Outcome
from bot.reports import BLOCKED, RUNNING, STALLED, WAITING, OnboardingSummary
from bot.transports.slack.views import onboarding as views
from bot.transports.slack.views.home import (
    ACTION_HANDOFF_DONE,
    ACTION_NEW_ONBOARDING,
    HOME_BLOCK_LIMIT,
    home_view,
)
from bot.transports.slack.views.invite import invite_message, parse_start_value
from bot.transports.slack.views.reports import ReportMessages
from bot.usecases.manager import Dashboard, HandoffToDo, LinkRow
from devslack.blockkit import message_problems, view_problems
from tests.slack_drawn import not_verbatim

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
calendar = WorkingCalendar("Europe/Amsterdam")


def summary(n: int, health: str = RUNNING, **fields) -> OnboardingSummary:
    values = {
        "onboarding_id": n,
        "client_id": n,
        "client_name": f"Klant {n}",
        "channel_id": f"C0{n}",
        "contact_user_id": None,
        "language": "nl",
        "state": "credentials_verified",
        "step": 3,
        "created_at": NOW - timedelta(days=1),
        "last_activity_at": NOW,
        "last_progress_at": NOW,
        "idle_working_days": 0,
        "stalled": health == STALLED,
        "blocked_until": NOW + timedelta(hours=1) if health == BLOCKED else None,
        "expires_at": None,
        "owner": "U0MANAGER",
        "health": health,
        **fields,
    }
    return OnboardingSummary(**values)


def todo(n: int) -> HandoffToDo:
    return HandoffToDo(
        onboarding_id=n,
        client_name=f"Bakkerij {n}",
        channel_id="C0SHARED",
        owner="U0MANAGER",
        reason="other_package",
        package="loket",
        contact_user_id="U0CUSTOMER",
        handed_off_at=NOW,
    )


def link(n: int, names: int = 2) -> LinkRow:
    return LinkRow(
        link_id=n,
        onboarding_id=n,
        client_name=f"Klant {n}",
        channel_id="C0SHARED",
        companies=names,
        created_at=NOW,
        company_names=tuple(f"Bedrijf {k} B.V." for k in range(names)),
        login="loon@klant.nl",
        provider="nmbrs-rest",
        verified_at=NOW,
    )


def home(dashboard: Dashboard) -> list[dict]:
    view = home_view(dashboard, now=NOW, language="nl", calendar=calendar).to_dict()
    assert view_problems(view) == []
    assert not_verbatim(view["blocks"]) == []
    return view["blocks"]


def test_the_app_home_starts_with_a_new_onboarding_button():
    blocks = home(Dashboard(open=[], links=[]))
    [button] = blocks[2]["elements"]
    assert (button["action_id"], button["text"]["text"]) == (
        ACTION_NEW_ONBOARDING,
        "Nieuwe onboarding",
    )


def test_a_handoff_is_a_to_do_naming_client_package_contact_and_owner_with_a_done_button():
    blocks = home(Dashboard(open=[], links=[], todo=[todo(4)]))
    row = next(block for block in blocks if block.get("block_id") == "todo_4")
    text = row["text"]["text"]
    assert "*Bakkerij 4*" in text and "Loket.nl" in text
    assert "<@U0CUSTOMER>" in text and "<@U0MANAGER>" in text
    assert (row["accessory"]["action_id"], row["accessory"]["value"]) == (ACTION_HANDOFF_DONE, "4")
    assert "Te doen (1)" in json.dumps(blocks)


def test_each_onboarding_names_its_owner_and_blocked_is_not_coloured_as_running():
    blocks = home(Dashboard(open=[summary(1), summary(2, BLOCKED), summary(3, WAITING)], links=[]))
    rows = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    running, blocked, waiting = (next(r for r in rows if f"Klant {n}*" in r) for n in (1, 2, 3))
    assert running.startswith("🟢") and blocked.startswith("⛔") and waiting.startswith("🟠")
    assert "wacht op een aanpassing in Nmbrs" in waiting
    assert all("accountmanager <@U0MANAGER>" in row for row in (running, blocked, waiting))


def test_a_link_names_its_companies_its_last_check_and_its_login():
    blocks = home(Dashboard(open=[], links=[link(1, names=8)]))
    details = json.dumps(blocks)
    assert "Bedrijf 0 B.V., Bedrijf 1 B.V." in details and "en nog 3" in details
    assert "laatst gecontroleerd op 25 november 2026 om 10:00" in details
    assert "`loon@klant.nl`" in details and "de REST API" in details


def test_a_full_app_home_stays_within_slacks_limits_and_says_how_many_more():
    dashboard = Dashboard(
        open=[summary(n, STALLED) for n in range(60)],
        links=[link(n, names=300) for n in range(40)],
        todo=[todo(n) for n in range(30)],
    )
    blocks = home(dashboard)
    assert len(blocks) <= HOME_BLOCK_LIMIT
    text = json.dumps(blocks)
    assert "en nog 20." in text and "en nog 40." in text and "en nog 28." in text


def test_the_status_thread_parent_says_where_it_stands_and_who_owns_it():
    text, blocks = ReportMessages(language="nl", calendar=calendar).thread_parent(
        summary(5, BLOCKED)
    )
    assert message_problems(blocks) == [] and not_verbatim(blocks) == []
    assert text.startswith("⛔ *Klant 5* in <#C05>: inloggegevens gecontroleerd, stap 3 van 5")
    assert "tokenpogingen geblokkeerd tot 11:00" in text and "<@U0MANAGER>" in text


def test_the_handoff_modal_offers_the_package_choice_again():
    outcome = Outcome(
        screen=HandoffScreen("other_package", "020 123 45 67", can_choose_again=True),
        language="nl",
        ref=StepRef(7, 2),
    )
    view = views.render(outcome, private_metadata="signed").to_dict()
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        (views.ACTION_CHOOSE_AGAIN, "Ander pakket kiezen")
    ]


def test_the_handoff_invite_keeps_a_button_back_to_the_choice_only_when_it_can():
    def buttons(can: bool) -> list[dict]:
        status = InviteStatus(
            onboarding_id=7,
            client_name="Acme",
            language="nl",
            channel_id="C0SHARED",
            message_ts="1.2",
            state=State.HANDOFF,
            step_reached=None,
            handoff_reason="other_package",
            support_phone="020 123 45 67",
            can_choose_again=can,
        )
        blocks = invite_message(status).blocks
        assert message_problems(blocks) == []
        return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]

    [button] = buttons(True)
    assert button["action_id"] == views.ACTION_CHOOSE_AGAIN
    assert parse_start_value(button["value"]) == (7, "nl")
    assert buttons(False) == []
