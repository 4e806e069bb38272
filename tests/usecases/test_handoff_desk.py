"""A handoff stays with its account manager: a direct message, the App Home's to-do list until
ticked off; and the status channel gets one thread per onboarding."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clock import WorkingCalendar
from bot.core.model import Actor, StartRequest
from bot.outbox import stored_notice
from bot.reports import thread_key
from bot.schedule import ReminderPolicy
from bot.settings import Settings
from bot.usecases.manager import ManagerTools
from payroll.nmbrs_soap.model import Company
from storage.models import OutboxMessage
from tests.slack_drawn import draw_row
from tests.usecases.fakes import manager_tools

MANAGER = "U0MANAGER"
CUSTOMER = Actor("U0CUSTOMER", team_id="T0CUSTOMER")
STATUS = "C0STATUS"
policy = ReminderPolicy(calendar=WorkingCalendar("Europe/Amsterdam"))
settings = Settings(support_phone="+31 20 000 0000", status_channel=STATUS, _env_file=None)


@pytest.fixture
def tools(engine: Engine) -> ManagerTools:
    return manager_tools(engine, settings=settings, policy=policy, status_channel=STATUS)


def outbox(engine: Engine, recipient: str | None = None) -> list[OutboxMessage]:
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [row for row in rows if recipient in (None, row.recipient)]


def handed_off(tools: ManagerTools, name: str = "Bakkerij de Vries", channel="C0SHARED") -> int:
    invite = tools.start(
        StartRequest(name, channel, "nl", contact_user_id="U0CUSTOMER"),
        team_id="T0CUSTOMER",
        manager=MANAGER,
    )
    service = tools._service
    ref = service.open(invite.onboarding_id, CUSTOMER).ref
    assert ref is not None
    service.accept_terms(ref, CUSTOMER, accepted=True, package="loket")
    return invite.onboarding_id


def test_a_handoff_is_on_the_to_do_list_of_the_app_home_with_its_owner(tools) -> None:
    onboarding_id = handed_off(tools)
    [todo] = tools.dashboard().todo
    assert (todo.onboarding_id, todo.owner, todo.reason, todo.package) == (
        onboarding_id,
        MANAGER,
        "other_package",
        "loket",
    )
    assert todo.contact_user_id == "U0CUSTOMER"
    assert tools.dashboard().open == []


def test_the_owner_gets_a_direct_message_naming_the_client_and_the_package(tools, engine) -> None:
    handed_off(tools)
    [dm] = outbox(engine, MANAGER)
    text = draw_row(dm).payload["text"]
    assert "Bakkerij de Vries" in text and "Loket" in text and "App Home" in text


def test_ticking_a_handoff_off_takes_it_from_the_list_once_audited_and_reported(
    tools, engine
) -> None:
    onboarding_id = handed_off(tools)
    assert tools.handoff_done(onboarding_id, manager=MANAGER) == "Bakkerij de Vries"
    assert tools.dashboard().todo == []
    assert tools.handoff_done(onboarding_id, manager=MANAGER) is None
    reports = [row.kind for row in outbox(engine, STATUS)]
    assert reports.count("report.handoff_done") == 1


def test_choosing_another_package_takes_the_handoff_off_the_list(tools) -> None:
    onboarding_id = handed_off(tools)
    tools._service.choose_package_again(onboarding_id, CUSTOMER)
    assert tools.dashboard().todo == []
    assert [row.onboarding_id for row in tools.dashboard().open] == [onboarding_id]


def test_each_onboarding_has_one_parent_in_the_status_channel_and_its_events_in_its_thread(
    tools, engine
) -> None:
    first = handed_off(tools)
    second = handed_off(tools, "Slagerij Jansen", "C0OTHER")
    rows = outbox(engine, STATUS)
    parents = [row for row in rows if row.kind == "status_thread" and row.dedupe_key]
    assert [row.dedupe_key for row in parents] == [thread_key(first), thread_key(second)]
    replies = [stored_notice(row) for row in rows if row.kind.startswith("report.")]
    assert {notice.thread_of for notice in replies} == {thread_key(first), thread_key(second)}
    # The parents still wait to be sent: every redraw went into them.
    assert len(rows) == len(parents) + len(replies)
    parent = draw_row(parents[0]).payload["text"]
    assert "Bakkerij de Vries" in parent and "overgedragen" in parent and f"<@{MANAGER}>" in parent


def test_only_what_needs_a_person_is_shown_at_the_top_level_naming_the_owner(tools, engine) -> None:
    handed_off(tools)
    replies = [row for row in outbox(engine, STATUS) if row.kind.startswith("report.")]
    broadcast = [row.kind for row in replies if stored_notice(row).broadcast]
    assert broadcast == ["report.handed_off"]
    handoff = next(row for row in replies if row.kind == "report.handed_off")
    assert draw_row(handoff).payload["text"].startswith(f"<@{MANAGER}> ")


def test_a_link_in_the_app_home_names_its_companies_and_its_last_check(tools) -> None:
    invite = tools.start(StartRequest("Bakkerij", "C0SHARED", "nl"), team_id="T0", manager=MANAGER)
    with tools._unit_of_work() as uow:
        stored = uow.onboardings.require(invite.onboarding_id)
        stored.state = "completed"
        uow.links.create(
            onboarding=stored,
            username="loon@bakkerij.nl",
            token="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            domain="bakkerij",
            companies=[
                Company(id=12, number=2, name="Banketbakkerij BV"),
                Company(id=11, number=1, name="Bakkerij BV"),
            ],
        )
        uow.commit()
    [link] = tools.dashboard().links
    assert link.company_names == ("Bakkerij BV", "Banketbakkerij BV")
    assert (link.login, link.status, link.verified_at) == ("loon@bakkerij.nl", "active", None)


def test_the_status_thread_parent_says_when_a_handoff_was_dealt_with(tools, engine) -> None:
    onboarding_id = handed_off(tools)
    tools.handoff_done(onboarding_id, manager=MANAGER)
    [parent] = [row for row in outbox(engine, STATUS) if row.kind == "status_thread"]
    assert "afgehandeld" in draw_row(parent).payload["text"]
