"""The account manager's use cases and the scheduled work, on real storage (time frozen)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clock import SystemClock, WorkingCalendar
from bot.core.flow import IllegalTransition
from bot.core.migration import MigrationStatus
from bot.core.model import StartRequest
from bot.i18n import catalogue
from bot.reports import (
    BLOCKED,
    RUNNING,
    STALLED,
    OnboardingSummary,
)
from bot.schedule import ReminderPolicy, Scheduler
from bot.settings import Settings
from bot.transports.slack.views.home import ACTION_CONFIRM_ENVIRONMENT, home_view
from bot.transports.slack.views.manager import decode_request, encode_request, status_message
from bot.usecases.manager import Dashboard, LinkRow, ManagerTools, RelinkToConfirm, Unlinked
from bot.usecases.scheduled import scheduled_jobs
from payroll.nmbrs_soap.model import Company
from storage.models import AuditEvent, Onboarding, OutboxMessage
from tests.slack_drawn import draw_row
from tests.usecases.fakes import manager_tools

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MANAGER = "U0MANAGER"
CUSTOMER_TEAM = "T0CUSTOMER"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
calendar = WorkingCalendar("Europe/Amsterdam")
policy = ReminderPolicy(calendar=calendar)
settings = Settings(
    terms_url="https://example.com/voorwaarden",
    support_phone="+31 20 000 0000",
    status_channel="C0STATUS",
    _env_file=None,
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMSTERDAM).astimezone(UTC)


@pytest.fixture
def tools(engine: Engine) -> ManagerTools:
    return manager_tools(engine, settings=settings, policy=policy, status_channel="C0STATUS")


def request(name: str = "Bakkerij de Vries", channel: str = "C0SHARED") -> StartRequest:
    return StartRequest(client_name=name, channel_id=channel, language="nl")


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def reports_sent(engine: Engine) -> list[str]:
    return [row.kind for row in outbox(engine) if row.kind.startswith("report.")]


def audit_kinds(engine: Engine, onboarding_id: int) -> list[str]:
    with Session(engine) as session:
        statement = select(AuditEvent.kind).where(AuditEvent.onboarding_id == onboarding_id)
        return list(session.exec(statement.order_by(AuditEvent.id)))


def onboarding(engine: Engine, onboarding_id: int) -> Onboarding:
    with Session(engine) as session:
        stored = session.get(Onboarding, onboarding_id)
        assert stored is not None
        return stored


def complete_with_link(tools: ManagerTools, engine: Engine) -> int:
    """An onboarding that finished with a stored link; returns the link id."""
    invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)
    uow = tools._unit_of_work
    with uow() as unit:
        stored = unit.onboardings.require(invite.onboarding_id)
        stored.state = "completed"
        link = unit.links.create(
            onboarding=stored,
            username="loon@bakkerij.nl",
            token=TOKEN,
            domain="bakkerij",
            companies=[Company(id=11, number=1, name="Bakkerij BV")],
        )
        unit.commit()
    return link.id


# --- starting, resending, cancelling, lifting, unlinking ---------------------------------


def test_starting_an_onboarding_creates_the_invite_and_reports_it(
    tools: ManagerTools, engine: Engine
) -> None:
    invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)

    assert invite.state == "invited" and invite.channel_id == "C0SHARED"
    assert reports_sent(engine) == ["report.invite_created"]
    running = tools.open_for_channel("C0SHARED")
    assert running is not None and running.onboarding_id == invite.onboarding_id
    assert tools.open_for_channel("C0ELSEWHERE") is None


def test_replacing_cancels_the_running_onboarding_and_starts_a_new_one(
    tools: ManagerTools, engine: Engine
) -> None:
    first = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)
    second = tools.replace(
        first.onboarding_id,
        request("Bakkerij de Vries BV"),
        team_id=CUSTOMER_TEAM,
        manager=MANAGER,
    )

    assert onboarding(engine, first.onboarding_id).state == "cancelled"
    assert tools.open_for_channel("C0SHARED").onboarding_id == second.onboarding_id
    assert reports_sent(engine) == [
        "report.invite_created",
        "report.onboarding_cancelled",
        "report.invite_created",
    ]


def test_a_resend_is_audited_and_reported(tools: ManagerTools, engine: Engine) -> None:
    invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)
    tools.record_resent(invite.onboarding_id, manager=MANAGER)

    assert "invite_resent" in audit_kinds(engine, invite.onboarding_id)
    assert reports_sent(engine)[-1] == "report.invite_resent"


def test_cancelling_ends_the_onboarding_once(tools: ManagerTools, engine: Engine) -> None:
    invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)
    status = tools.cancel(invite.onboarding_id, manager=MANAGER)

    assert status.state == "cancelled"
    assert "onboarding_cancelled" in audit_kinds(engine, invite.onboarding_id)
    with pytest.raises(IllegalTransition):
        tools.cancel(invite.onboarding_id, manager=MANAGER)
    assert reports_sent(engine).count("report.onboarding_cancelled") == 1


def test_lifting_a_token_block_allows_attempts_again(tools: ManagerTools, engine: Engine) -> None:
    now = local(2026, 11, 25, 10, 0)
    with freeze_time(now):
        invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)
        with tools._unit_of_work() as unit:
            onboarding = unit.onboardings.require(invite.onboarding_id)
            onboarding.blocked_until = now + timedelta(hours=1)
            unit.commit()
        assert tools.summary(invite.onboarding_id).blocked_until is not None

        tools.lift_block(invite.onboarding_id, manager=MANAGER)

        assert tools.summary(invite.onboarding_id).blocked_until is None
    assert "credential_block_lifted" in audit_kinds(engine, invite.onboarding_id)
    assert reports_sent(engine)[-1] == "report.credential_block_lifted"


def test_unlinking_erases_the_token_and_keeps_the_audit(
    tools: ManagerTools, engine: Engine
) -> None:
    link_id = complete_with_link(tools, engine)
    assert [row.link_id for row in tools.dashboard().links] == [link_id]

    assert tools.unlink(link_id, manager=MANAGER) == Unlinked("Bakkerij de Vries")

    with tools._unit_of_work() as unit:
        link = unit.links.require(link_id)
        assert link.encrypted_secret is None and link.revoked_at is not None
        assert unit.onboardings.require(link.onboarding_id).state == "unlinked"
        kinds = [event.kind for event in unit.audit.for_link(link_id)]
    assert kinds == ["link_unlinked"]
    assert "state_changed" in audit_kinds(engine, link.onboarding_id)
    assert reports_sent(engine)[-1] == "report.link_unlinked"
    assert tools.dashboard().links == []
    assert tools.unlink(link_id, manager=MANAGER) is None
    assert reports_sent(engine).count("report.link_unlinked") == 1


def test_no_report_and_no_outbox_row_names_the_token(tools: ManagerTools, engine: Engine) -> None:
    link_id = complete_with_link(tools, engine)
    tools.unlink(link_id, manager=MANAGER)
    for row in outbox(engine):
        assert TOKEN not in str(row.notice) + str(draw_row(row).payload)


# --- overviews ----------------------------------------------------------------------------


def test_the_open_list_puts_stalled_onboardings_first(tools: ManagerTools) -> None:
    with freeze_time(local(2026, 11, 16, 10, 0)):
        old = tools.start(request("Oud", "C0OLD"), team_id=CUSTOMER_TEAM, manager=MANAGER)
    with freeze_time(local(2026, 11, 25, 10, 0)):
        new = tools.start(request("Nieuw", "C0NEW"), team_id=CUSTOMER_TEAM, manager=MANAGER)
    with freeze_time(local(2026, 11, 26, 10, 0)):
        rows = tools.open_onboardings()

    assert [row.onboarding_id for row in rows] == [old.onboarding_id, new.onboarding_id]
    assert [row.stalled for row in rows] == [True, False]
    assert rows[0].idle_working_days == 8


# --- scheduled work ---------------------------------------------------------------------


def nudges(engine: Engine) -> list[OutboxMessage]:
    return [row for row in outbox(engine) if row.kind == "nudge"]


def test_nudges_come_after_three_and_seven_working_days_once_each(
    tools: ManagerTools, engine: Engine
) -> None:
    with freeze_time(local(2026, 11, 23, 10, 0)):  # Monday
        invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)

    assert tools.send_nudges(local(2026, 11, 26, 9, 0)) == 0
    assert tools.send_nudges(local(2026, 11, 26, 10, 0)) == 1  # Thursday
    assert tools.send_nudges(local(2026, 11, 26, 11, 0)) == 0
    assert tools.send_nudges(local(2026, 12, 2, 10, 0)) == 1  # seven working days
    assert tools.send_nudges(local(2026, 12, 3, 10, 0)) == 0

    sent = nudges(engine)
    assert [row.recipient for row in sent] == ["C0SHARED", "C0SHARED"]
    assert draw_row(sent[0]).payload["text"].startswith("👋 Een herinnering")
    assert "7 december 2026" in draw_row(sent[1]).payload["text"]  # fourteen days after the invite
    assert audit_kinds(engine, invite.onboarding_id).count("nudge_sent") == 2


def test_expiry_ends_overdue_onboardings_with_a_report(tools: ManagerTools, engine: Engine) -> None:
    with freeze_time(local(2026, 11, 23, 10, 0)):
        invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)

    assert tools.expire_overdue(local(2026, 12, 7, 9, 0)) == []
    [expired] = tools.expire_overdue(local(2026, 12, 7, 10, 0))

    assert expired.onboarding_id == invite.onboarding_id and expired.state == "expired"
    assert reports_sent(engine)[-1] == "report.onboarding_expired"
    assert tools.expire_overdue(local(2026, 12, 7, 11, 0)) == []


def test_an_expired_invite_message_is_redrawn_without_its_start_button(
    tools: ManagerTools, engine: Engine
) -> None:
    with freeze_time(local(2026, 11, 23, 10, 0)):
        invite = tools.start(request(), team_id=CUSTOMER_TEAM, manager=MANAGER)
    tools._service.record_invite(invite.onboarding_id, channel_id="C0SHARED", message_ts="1.5")

    tools.expire_overdue(local(2026, 12, 7, 10, 0))

    [update] = [row for row in outbox(engine) if draw_row(row).method == "chat.update"]
    assert (update.recipient, draw_row(update).payload["ts"]) == ("C0SHARED", "1.5")
    assert "verlopen" in str(draw_row(update).payload["blocks"])
    assert "start_onboarding" not in str(draw_row(update).payload["blocks"])


def test_the_digest_counts_what_ended_since_the_previous_working_day(
    tools: ManagerTools, engine: Engine
) -> None:
    with freeze_time(local(2026, 11, 25, 10, 0)):
        tools.start(request("Blijft open", "C0OPEN"), team_id=CUSTOMER_TEAM, manager=MANAGER)
        cancelled = tools.start(
            request("Gestopt", "C0STOP"), team_id=CUSTOMER_TEAM, manager=MANAGER
        )
    with freeze_time(local(2026, 11, 25, 15, 0)):
        tools.cancel(cancelled.onboarding_id, manager=MANAGER)

    tools.send_digest(local(2026, 11, 26, 9, 0))
    tools.send_digest(local(2026, 11, 26, 9, 0))

    [digest] = [row for row in outbox(engine) if row.kind == "digest"]
    text = draw_row(digest).payload["text"]
    assert digest.recipient == "C0STATUS"
    assert "*Open:* 1 (uitgenodigd: 1)" in text
    assert "gestopt: 1" in text
    assert "Niets vastgelopen." in text


async def test_the_scheduled_jobs_run_at_their_times_once(
    tools: ManagerTools, engine: Engine
) -> None:
    scheduler = Scheduler(
        engine,
        SystemClock(),
        scheduled_jobs(tools, calendar=calendar, settings=settings),
        poll_seconds=1,
    )
    with freeze_time(local(2026, 11, 28, 9, 30), real_asyncio=True):  # Saturday
        assert await scheduler.run_due() == ["expiry"]
    with freeze_time(local(2026, 11, 30, 9, 30), real_asyncio=True):  # Monday
        assert await scheduler.run_due() == ["digest", "nudges", "expiry"]
        assert await scheduler.run_due() == []
    with freeze_time(local(2026, 11, 30, 18, 30), real_asyncio=True):  # after working hours
        assert await scheduler.run_due() == ["expiry"]
    assert len([row for row in outbox(engine) if row.kind == "digest"]) == 1


# --- the account manager's views stay within Slack's limits ------------------------------


# The moment the views below are drawn at (they are given it; no clock is read).
VIEWED_AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def summary_row(n: int, *, stalled: bool = False, blocked: bool = False):
    now = VIEWED_AT
    return OnboardingSummary(
        onboarding_id=n,
        client_id=n,
        client_name=f"Klant {n} <&>",
        channel_id=f"C0{n}",
        contact_user_id=None,
        language="nl",
        state="invited",
        step=1,
        created_at=now - timedelta(days=4),
        last_activity_at=now - timedelta(hours=5),
        last_progress_at=now - timedelta(days=4),
        idle_working_days=3,
        stalled=stalled,
        blocked_until=now + timedelta(minutes=30) if blocked else None,
        expires_at=None,
        owner="U0MANAGER",
        health=BLOCKED if blocked else STALLED if stalled else RUNNING,
    )


@pytest.mark.parametrize("language", ["nl", "en"])
def test_modal_titles_fit_in_24_characters(language: str) -> None:
    texts = catalogue(language)
    titles = [key for key in texts if key.startswith("manager.") and ".title" in key]
    modal_titles = [key for key in titles if key.startswith(("manager.start.", "manager.result."))]
    assert modal_titles and all(len(texts.text(key)) <= 24 for key in modal_titles)


def test_a_big_app_home_stays_within_100_blocks_and_says_how_many_more() -> None:
    now = VIEWED_AT
    links = [
        LinkRow(
            link_id=n,
            onboarding_id=n,
            client_name=f"K{n}",
            channel_id="C0",
            companies=2,
            created_at=now,
        )
        for n in range(60)
    ]
    dashboard = Dashboard(open=[summary_row(n, blocked=True) for n in range(80)], links=links)
    view = home_view(dashboard, now=now, language="nl", calendar=calendar, notice="Klaar.")
    blocks = view.to_dict()["blocks"]
    assert len(blocks) <= 100
    text = json.dumps(blocks)
    assert "en nog 60" in text and "en nog 48" in text
    assert "Klant 1 &lt;&amp;&gt;" in text


def test_relinks_to_another_environment_are_first_in_the_app_home_each_with_a_confirm_button() -> (
    None
):
    now = VIEWED_AT
    relinks = [
        RelinkToConfirm(
            link_id=n,
            client_name=f"K{n}",
            channel_id="C0",
            previous_login="oud@voorbeeld.nl",
            previous_environment="voorbeeld",
            login="nieuw@elders.nl",
            environment="elders",
        )
        for n in range(5)
    ]
    links = [LinkRow(n, n, f"K{n}", "C0", companies=2, created_at=now) for n in range(60)]
    dashboard = Dashboard(
        open=[summary_row(n, blocked=True) for n in range(80)], links=links, relinks=relinks
    )
    view = home_view(dashboard, now=now, language="nl", calendar=calendar, notice="Klaar.")
    blocks = view.to_dict()["blocks"]
    assert len(blocks) <= 100
    assert blocks[4]["text"]["text"] == "Te bevestigen koppelingen (5)"
    buttons = [
        b["accessory"]
        for b in blocks
        if b.get("accessory", {}).get("action_id") == (ACTION_CONFIRM_ENVIRONMENT)
    ]
    assert [button["value"] for button in buttons] == ["0", "1", "2"]
    assert "`nieuw@elders.nl`" in blocks[5]["text"]["text"]
    assert "`oud@voorbeeld.nl` in `voorbeeld`" in blocks[5]["text"]["text"]


def test_the_status_list_shows_at_most_twenty_rows() -> None:
    rows = [summary_row(n, stalled=n < 2) for n in range(25)]
    text, blocks = status_message(rows, now=VIEWED_AT, language="en", calendar=calendar)
    assert text == "*Open onboardings* (25), stalled first"
    assert len(blocks) == 22 and "and 5 more" in json.dumps(blocks[-1])
    assert blocks[1]["text"]["text"].startswith("🔴 *Klant 0")


def test_a_start_request_survives_the_round_trip_through_private_metadata() -> None:
    request = StartRequest(
        client_name='Bakkerij "de Vries"',
        channel_id="C0SHARED",
        language="en",
        contact_user_id="U0CUSTOMER",
    )
    encoded = encode_request(request)
    assert len(encoded) < 3000
    assert decode_request(encoded) == request
    assert decode_request("{kapot") is None


# --- the move of the links to the REST API ----------------------------------------------------

SOAP_END = date(2027, 3, 1)


def home_texts(migration: MigrationStatus, language: str = "nl") -> list[str]:
    dashboard = Dashboard(open=[], links=[], migration=migration)
    view = home_view(dashboard, now=VIEWED_AT, language=language, calendar=calendar)
    return [
        element["text"]
        for block in view.to_dict()["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    ]


def test_the_app_home_says_how_many_links_are_on_the_rest_api_and_how_many_days_are_left():
    status = MigrationStatus(on_rest=1, total=3, days_left=90, soap_ends_on=SOAP_END, ended=False)
    assert "🔀 1 van 3 koppelingen op de REST API, nog 90 dagen." in home_texts(status)
    assert "🔀 1 of 3 connections on the REST API, 90 days left." in home_texts(status, "en")


def test_the_app_home_counts_in_real_plurals():
    status = MigrationStatus(on_rest=0, total=1, days_left=1, soap_ends_on=SOAP_END, ended=False)
    assert "🔀 0 van 1 koppeling op de REST API, nog 1 dag." in home_texts(status)
    assert "🔀 0 of 1 connection on the REST API, 1 day left." in home_texts(status, "en")


def test_after_the_end_the_app_home_says_how_many_links_still_need_a_relink():
    status = MigrationStatus(on_rest=1, total=3, days_left=0, soap_ends_on=SOAP_END, ended=True)
    assert (
        "🔀 De SOAP-API van Nmbrs is afgesloten; nog 2 koppelingen moeten opnieuw gekoppeld worden."
        in home_texts(status)
    )
    one = MigrationStatus(on_rest=2, total=3, days_left=0, soap_ends_on=SOAP_END, ended=True)
    assert "🔀 The Nmbrs SOAP API has ended; 1 connection still needs to be reconnected." in (
        home_texts(one, "en")
    )
    done = MigrationStatus(on_rest=3, total=3, days_left=0, soap_ends_on=SOAP_END, ended=True)
    assert "🔀 The Nmbrs SOAP API has ended; every connection is on the REST API." in home_texts(
        done, "en"
    )


def test_without_links_the_app_home_says_nothing_of_the_move():
    status = MigrationStatus(on_rest=0, total=0, days_left=90, soap_ends_on=SOAP_END, ended=False)
    assert not any("REST" in text for text in home_texts(status))


def test_a_big_app_home_with_the_move_stays_within_100_blocks():
    links = [LinkRow(n, n, f"K{n}", "C0", companies=2, created_at=VIEWED_AT) for n in range(60)]
    relinks = [
        RelinkToConfirm(n, f"K{n}", "C0", "oud", "voorbeeld", "nieuw", "elders") for n in range(5)
    ]
    status = MigrationStatus(on_rest=1, total=60, days_left=9, soap_ends_on=SOAP_END, ended=False)
    dashboard = Dashboard(
        open=[summary_row(n, blocked=True) for n in range(80)],
        links=links,
        relinks=relinks,
        migration=status,
    )
    view = home_view(dashboard, now=VIEWED_AT, language="nl", calendar=calendar, notice="Klaar.")
    assert len(view.to_dict()["blocks"]) <= 100
