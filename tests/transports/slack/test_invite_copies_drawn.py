"""The invite copies, the step indicator and the re-check as Slack draws them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.flow import State
from bot.core.invite import SUPERSEDED_REPLACED, SUPERSEDED_RESENT, StepIndicator
from bot.core.model import Company, InviteStatus
from bot.core.screens import (
    CompanyChoiceScreen,
    CompletedScreen,
    Outcome,
    PermissionsScreen,
    TermsScreen,
)
from bot.transports.slack.views.invite import invite_message
from bot.transports.slack.views.onboarding import render


def status(state: State = State.TERMS_ACCEPTED, **fields) -> InviteStatus:  # type: ignore[no-untyped-def]
    return InviteStatus(
        onboarding_id=7,
        client_name="Bakkerij de Vries B.V.",
        language="nl",
        channel_id="C0SHARED",
        message_ts="1.1",
        state=state,
        step_reached=None,
        **fields,
    )


def drawn(value: InviteStatus) -> tuple[str, list[str]]:
    message = invite_message(value)
    buttons = [
        element["text"]["text"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    return json.dumps(message.blocks, ensure_ascii=False), buttons


def test_the_live_copy_has_its_buttons():
    _, buttons = drawn(status())
    assert buttons == ["Verdergaan", "Stoppen"]


def test_a_copy_replaced_by_a_newer_one_says_so_and_has_no_buttons():
    text, buttons = drawn(status(superseded=SUPERSEDED_RESENT))
    assert "vervangen door een nieuwere hieronder" in text
    assert buttons == []


def test_every_copy_of_an_unlinked_link_says_so_without_change_buttons():
    for superseded in (None, SUPERSEDED_RESENT):
        text, buttons = drawn(status(State.UNLINKED, superseded=superseded))
        assert "De koppeling is verwijderd" in text and "Koppeling voltooid" not in text
        assert buttons == []


def test_an_older_copy_of_a_completed_link_loses_its_buttons():
    _, buttons = drawn(status(State.COMPLETED, companies_linked=2, superseded=SUPERSEDED_RESENT))
    assert buttons == []
    _, buttons = drawn(status(State.COMPLETED, companies_linked=2, completed_by="U0JAN"))
    assert buttons == ["Bedrijven wijzigen", "Koppeling verwijderen"]


def test_a_replaced_onboarding_says_a_new_one_follows():
    text, buttons = drawn(status(State.CANCELLED, superseded=SUPERSEDED_REPLACED))
    assert "nieuwe onboarding hieronder" in text and buttons == []


def test_with_permissions_off_the_invite_says_what_waits_not_progress():
    text, _ = drawn(status(State.CREDENTIALS_VERIFIED, waiting="permissions", waiting_count=3))
    assert "Stap 3 van 5 · Wacht op u: zet in Nmbrs nog 3 API-rechten aan" in text
    assert "bedrijven kiezen" not in text


def test_the_invite_mentions_the_contact_and_names_the_account_manager():
    text, _ = drawn(status(started_by="U0ANNA", contact_user_id="U0JAN"))
    assert "Voor <@U0JAN> · uw accountmanager is <@U0ANNA>." in text
    text, _ = drawn(status(started_by="cli"))
    assert "uw accountmanager is" not in text and "Uw accountmanager is" not in text


def test_the_modal_shows_its_step_first():
    outcome = Outcome(
        screen=TermsScreen(terms_url="https://example.com"),
        language="nl",
        step=StepIndicator(1, 5),
    )
    blocks = render(outcome, private_metadata=None).to_dict()["blocks"]
    assert blocks[0]["type"] == "context"
    assert blocks[0]["elements"][0]["text"] == "Stap 1 van 5"


def test_a_re_check_that_found_nothing_new_says_when_in_local_time():
    local = datetime(2026, 12, 1, 9, 8, tzinfo=UTC).astimezone(ZoneInfo("Europe/Amsterdam"))
    screen = PermissionsScreen(missing={"CompanyService": ["WageTax_GetXML"]}, unchanged_at=local)
    outcome = Outcome(screen=screen, language="nl", step=StepIndicator(3, 5))
    text = json.dumps(render(outcome, private_metadata=None).to_dict()["blocks"])
    assert "Opnieuw gecontroleerd om 10:08: er is nog niets veranderd." in text


def test_the_completed_screen_warns_of_companies_linked_for_another_client():
    screen = CompletedScreen(companies=(), domain="bakkerij", already_linked=1)
    text = json.dumps(
        render(Outcome(screen=screen, language="en"), private_metadata=None).to_dict()["blocks"]
    )
    assert "1 of these companies is already linked with us for another client" in text


def test_the_choice_warns_of_companies_another_client_linked_without_saying_whose():
    held = Company(id="11", number=1, name="Acme BV")
    screen = CompanyChoiceScreen(companies=(held,), already_linked=(held,))
    outcome = Outcome(screen=screen, language="nl", step=StepIndicator(3, 5))
    blocks = render(outcome, private_metadata=None).to_dict()["blocks"]
    assert blocks[1]["elements"][0]["text"].startswith(
        "⚠️ Let op: *Acme BV* is bij ons al gekoppeld voor een andere klant."
    )
