"""The link after the onboarding: verification, relink, company changes, customer stop and
retention, on scratch storage and the Nmbrs sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from sqlmodel import Session
from typer.testing import CliRunner

from bot.bootstrap import build_container, job_scheduler
from bot.core.events import LinkNeedsRelink
from bot.core.flow import State
from bot.core.model import Actor, InvalidInput, StepRef
from bot.core.screens import (
    BlockedScreen,
    CompanyChoiceScreen,
    CompletedScreen,
    CredentialsScreen,
    EndedScreen,
    OverAccessScreen,
    PermissionsScreen,
    RefusedScreen,
    RelinkFirstScreen,
)
from bot.schedule import working_calendar
from bot.settings import Settings
from bot.transports.slack.views.links import ACTION_RELINK
from bot.usecases.customer_exit import ALREADY_ENDED, REFUSED, REMOVED, STOPPED
from bot.usecases.maintenance import MARKED, RECOVERED, UNAVAILABLE, VERIFIED
from bot.usecases.scheduled import link_jobs
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    HTTP_500,
)
from storage.crypto import generate_key
from storage.links import ACTIVE, NEEDS_RELINK, UNLINKED, link_state
from storage.models import Onboarding, OutboxMessage
from tests.slack_drawn import draw_row
from tests.storage.scratch import ScratchStorage
from tests.usecases.link_world import (
    CHANNEL,
    CUSTOMER,
    DEMO_IDS,
    MANAGER,
    NEW_TOKEN,
    STATUS,
    STRANGER,
    World,
    make_world,
)

runner = CliRunner()


# --- verification ---------------------------------------------------------------------------


def test_a_working_link_is_verified_and_nothing_is_reported(world):
    onboarding_id = world.linked_client()
    result = world.maintenance.verify(world.link_id(onboarding_id))
    assert result.outcome == VERIFIED
    link, _, _ = world.link(onboarding_id)
    assert link_state(link) == ACTIVE and link.verified_at is not None
    assert world.outbox() == []


def test_a_revoked_token_marks_the_link_and_is_reported_once(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    link_id = world.link_id(onboarding_id)

    first = world.maintenance.verify(link_id)
    again = world.maintenance.verify(link_id)

    assert (first.outcome, first.reason, first.reported) == (MARKED, "wrong_credentials", True)
    assert (again.outcome, again.reported) == (MARKED, False)
    link, _, token = world.link(onboarding_id)
    assert link_state(link) == NEEDS_RELINK
    assert link.problem["reason"] == "wrong_credentials"
    assert token == DEMO_TOKEN  # kept until relinked or unlinked
    [report] = world.outbox(channel=STATUS)
    assert (
        "Bakkerij de Vries" in draw_row(report).payload["text"]
        and "ingetrokken" in draw_row(report).payload["text"]
    )
    [request] = world.outbox(channel=CHANNEL)
    assert ACTION_RELINK in str(draw_row(request).payload["blocks"])
    assert len(world.audit(LinkNeedsRelink.kind)) == 1


def test_a_link_still_broken_another_way_is_kept_up_to_date_without_a_new_report(world):
    onboarding_id = world.linked_client()
    link_id = world.link_id(onboarding_id)
    world.nmbrs.accounts[DEMO_USERNAME].switch_off("CompanyService.WageTax_GetXML")
    world.maintenance.verify(link_id)
    first, _, _ = world.link(onboarding_id)
    world.revoke_token()

    result = world.maintenance.verify(link_id)

    assert (result.outcome, result.reason, result.reported) == (MARKED, "wrong_credentials", False)
    link, _, _ = world.link(onboarding_id)
    assert link.problem["reason"] == "wrong_credentials"
    assert link.problem["since"] == first.problem["since"]
    assert len(world.outbox(channel=STATUS)) == 1 and len(world.outbox(channel=CHANNEL)) == 1


def test_a_switched_off_permission_marks_the_link_naming_it(world):
    onboarding_id = world.linked_client()
    world.nmbrs.accounts[DEMO_USERNAME].switch_off("CompanyService.WageTax_GetXML")
    result = world.maintenance.verify(world.link_id(onboarding_id))
    assert (result.outcome, result.reason) == (MARKED, "permissions_missing")
    link, _, _ = world.link(onboarding_id)
    assert link.problem["missing_permissions"] == ["CompanyService.WageTax_GetXML"]
    [report] = world.outbox(channel=STATUS)
    assert "WageTax_GetXML" in draw_row(report).payload["text"]
    [request] = world.outbox(channel=CHANNEL)
    assert "WageTax_GetXML" in str(draw_row(request).payload["blocks"])


def test_a_vanished_company_marks_the_link_naming_the_company(world):
    onboarding_id = world.linked_client()
    account = world.nmbrs.accounts[DEMO_USERNAME]
    account.companies = [c for c in account.companies if c.id != 48203]
    result = world.maintenance.verify(world.link_id(onboarding_id))
    assert (result.outcome, result.reason) == (MARKED, "companies_gone")
    link, _, _ = world.link(onboarding_id)
    assert [c["id"] for c in link.problem["companies_gone"]] == ["48203"]
    [report] = world.outbox(channel=STATUS)
    assert "Tuincentrum Het Groene Hart B.V." in draw_row(report).payload["text"]
    assert len(world.outbox(channel=CHANNEL)) == 1


def test_a_company_the_link_does_not_use_may_vanish(world):
    onboarding_id = world.linked_client(companies=["48201", "48202"])
    account = world.nmbrs.accounts[DEMO_USERNAME]
    account.companies = [c for c in account.companies if c.id != 48205]
    assert world.maintenance.verify(world.link_id(onboarding_id)).outcome == VERIFIED


def test_nmbrs_failing_leaves_the_link_alone_and_reports_nothing(world):
    onboarding_id = world.linked_client()
    world.nmbrs.accounts[DEMO_USERNAME].fail(HTTP_500)
    result = world.maintenance.verify(world.link_id(onboarding_id))
    assert result.outcome == UNAVAILABLE
    link, _, _ = world.link(onboarding_id)
    assert link_state(link) == ACTIVE
    assert world.outbox() == []
    assert len(world.audit("link_check_failed")) == 1


def test_a_link_that_works_again_is_active_again_reported_once(world):
    onboarding_id = world.linked_client()
    link_id = world.link_id(onboarding_id)
    account = world.nmbrs.accounts[DEMO_USERNAME]
    account.switch_off("CompanyService.WageTax_GetXML")
    world.maintenance.verify(link_id)
    account.switch_on("CompanyService.WageTax_GetXML")

    assert world.maintenance.verify(link_id).outcome == RECOVERED
    assert world.maintenance.verify(link_id).outcome == VERIFIED
    link, _, _ = world.link(onboarding_id)
    assert link_state(link) == ACTIVE and link.problem is None
    assert [row.kind for row in world.outbox(channel=STATUS)] == [
        "report.link_needs_relink",
        "report.link_recovered",
    ]


def test_verifying_all_links_keeps_one_account_within_the_fair_use_limit(nmbrs):
    """Three links of one Nmbrs account, 22 calls each, with a limit of 22 calls a second:
    the shared provider spreads them over more than two seconds."""
    provider = SoapNmbrsProvider(nmbrs.base_url, max_calls_per_second=22)
    with ScratchStorage() as storage:
        world = make_world(nmbrs, storage, provider)
        for name in ("Eén", "Twee", "Drie"):
            world.linked_client(name=name)
        nmbrs.clear_calls()
        results = world.maintenance.verify_all()
    provider.close()
    assert [result.outcome for result in results] == [VERIFIED] * 3
    moments = sorted(call.at for call in nmbrs.calls)
    assert len(moments) == 66
    # The 23rd call cannot start before one second has passed, the 45th before two. Arrival
    # times at the sandbox lag their starts on a busy machine (which bunches them up), so the
    # spread is what is checked here; the window itself is tested in test_ratelimit with a clock.
    assert moments[-1] - moments[0] >= 1.5


def test_unlinked_links_are_not_verified(world):
    onboarding_id = world.linked_client()
    world.links.remove_link(onboarding_id, CUSTOMER)
    world.nmbrs.clear_calls()
    assert world.maintenance.verify_all() == []
    assert world.nmbrs.calls == []


def test_the_daily_verification_and_the_retention_job_are_scheduled(world):
    settings = Settings(_env_file=None)
    jobs = {
        job.name: job
        for job in link_jobs(
            world.maintenance, calendar=working_calendar(settings), settings=settings
        )
    }
    assert set(jobs) == {"renew_grants", "verify_links", "erase_ended_data"}
    saturday_morning = datetime(2025, 3, 8, 6, 30, tzinfo=UTC)  # 07:30 in Amsterdam
    assert jobs["verify_links"].latest_due(saturday_morning) == datetime(
        2025, 3, 8, 5, 0, tzinfo=UTC
    )
    assert jobs["verify_links"].latest_due(datetime(2025, 3, 8, 4, 0, tzinfo=UTC)) is None
    # The REST grants are renewed (and verified) an hour before the daily verification.
    assert jobs["renew_grants"].latest_due(saturday_morning) == datetime(
        2025, 3, 8, 4, 0, tzinfo=UTC
    )


def test_serve_runs_the_link_jobs_beside_the_others():
    settings = Settings(_env_file=None, encryption_keys=generate_key(), database_url="sqlite://")
    container = build_container(settings)
    try:
        names = [job.name for job in job_scheduler(container).jobs]
    finally:
        container.close()
    assert {"renew_grants", "verify_links", "erase_ended_data"} <= set(names)


# --- relink ---------------------------------------------------------------------------------


def relink(world: World, onboarding_id: int, token: str = NEW_TOKEN):
    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    assert isinstance(opened.screen, CredentialsScreen)
    return world.links.submit_relink(opened.ref, CUSTOMER, username=DEMO_USERNAME, token=token)


def test_a_relink_updates_the_link_in_place(world):
    onboarding_id = world.linked_client()
    link_id = world.link_id(onboarding_id)
    world.revoke_token()
    world.maintenance.verify(link_id)

    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    assert opened.screen.username == DEMO_USERNAME
    done = world.links.submit_relink(
        opened.ref, CUSTOMER, username=DEMO_USERNAME, token=f" {NEW_TOKEN}\n"
    )

    assert isinstance(done.screen, CompletedScreen)
    link, companies, token = world.link(onboarding_id)
    assert link.id == link_id and link_state(link) == ACTIVE and link.problem is None
    assert token == NEW_TOKEN and companies == DEMO_IDS
    with world.storage.unit_of_work() as uow:
        assert uow.onboardings.require(onboarding_id).pending_token is None
    assert [row.kind for row in world.outbox(channel=STATUS)] == [
        "report.link_needs_relink",
        "report.link_relinked",
    ]
    assert done.invite.companies_linked == 5


def test_a_relink_keeps_only_the_companies_still_visible(world):
    onboarding_id = world.linked_client()
    account = world.nmbrs.accounts[DEMO_USERNAME]
    account.companies = [c for c in account.companies if c.id != 48202]
    world.maintenance.verify(world.link_id(onboarding_id))
    world.revoke_token()

    done = relink(world, onboarding_id)

    assert [row.id for row in done.screen.companies] == ["48201", "48203", "48204", "48205"]
    _, companies, _ = world.link(onboarding_id)
    assert companies == ["48201", "48203", "48204", "48205"]
    report = world.outbox(channel=STATUS)[-1]
    assert "Fietsenmakerij Van Dijk" in draw_row(report).payload["text"]


def test_a_relink_redraws_the_relink_request_once_it_was_sent(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    world.maintenance.verify(world.link_id(onboarding_id))
    [request] = world.outbox(channel=CHANNEL)
    with Session(world.storage.engine) as session:
        row = session.get(OutboxMessage, request.id)
        row.status, row.message_ref = "sent", "1700000000.000100"
        session.commit()

    relink(world, onboarding_id)

    update = world.outbox(channel=CHANNEL)[-1]
    assert (
        draw_row(update).method == "chat.update"
        and draw_row(update).payload["ts"] == "1700000000.000100"
    )
    assert ACTION_RELINK not in str(draw_row(update).payload["blocks"])


def test_a_wrong_token_asks_again_and_five_block_the_relink(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    screen = relink(world, onboarding_id, token="wrong").screen
    assert isinstance(screen, CredentialsScreen) and screen.wrong_credentials
    assert screen.attempts_left == 4
    for _ in range(4):
        outcome = world.links.open_relink(onboarding_id, CUSTOMER)
        outcome = world.links.submit_relink(
            outcome.ref, CUSTOMER, username=DEMO_USERNAME, token="wrong"
        )
    assert isinstance(outcome.screen, BlockedScreen)
    _, _, token = world.link(onboarding_id)
    assert token == DEMO_TOKEN


def test_a_wrong_relink_keeps_and_shows_neither_the_rejected_username_nor_a_token_typed_as_one(
    world,
):
    onboarding_id = world.linked_client()
    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    with pytest.raises(InvalidInput):
        world.links.submit_relink(opened.ref, CUSTOMER, username=NEW_TOKEN, token=NEW_TOKEN)
    mistyped = "salaris@bakkerij-de-vires.example"
    outcome = world.links.submit_relink(opened.ref, CUSTOMER, username=mistyped, token="wrong")
    assert isinstance(outcome.screen, CredentialsScreen) and outcome.screen.wrong_credentials
    assert outcome.screen.username == DEMO_USERNAME  # the link's own login, as before
    [rejected] = world.audit("link_relink_rejected")
    assert mistyped not in str(rejected.detail)
    with Session(world.storage.engine) as session:
        step_data = str(session.get(Onboarding, onboarding_id).step_data)
    assert mistyped not in step_data and NEW_TOKEN not in step_data


def test_a_relink_with_permissions_off_continues_after_check_again(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    account = world.nmbrs.accounts[DEMO_USERNAME]
    account.switch_off("EmployeeService.Schedule_Get")

    outcome = relink(world, onboarding_id)
    assert isinstance(outcome.screen, PermissionsScreen)
    assert outcome.screen.missing == {"EmployeeService": ["Schedule_Get"]}
    account.switch_on("EmployeeService.Schedule_Get")
    done = world.links.check_again(outcome.ref, CUSTOMER)

    assert isinstance(done.screen, CompletedScreen)
    _, _, token = world.link(onboarding_id)
    assert token == NEW_TOKEN


def test_a_relink_seeing_none_of_the_linked_companies_asks_for_a_choice(world):
    onboarding_id = world.linked_client(companies=["48201"])
    account = world.nmbrs.accounts[DEMO_USERNAME]
    account.companies = [c for c in account.companies if c.id != 48201]  # the sandbox's int id
    world.revoke_token()

    choice = relink(world, onboarding_id)
    assert isinstance(choice.screen, CompanyChoiceScreen)
    assert len(choice.screen.companies) == 4
    done = world.links.choose_companies(choice.ref, CUSTOMER, ["48202", "48203", "48204", "48205"])

    assert isinstance(done.screen, CompletedScreen)
    _, companies, token = world.link(onboarding_id)
    assert companies == ["48202", "48203", "48204", "48205"] and token == NEW_TOKEN


def test_a_replayed_relink_submission_changes_nothing_more(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    first = world.links.submit_relink(opened.ref, CUSTOMER, username=DEMO_USERNAME, token=NEW_TOKEN)
    world.nmbrs.clear_calls()
    again = world.links.submit_relink(opened.ref, CUSTOMER, username=DEMO_USERNAME, token=NEW_TOKEN)
    assert again.screen == first.screen and again.notice == "already_done"
    assert world.nmbrs.calls == []
    assert len(world.audit("link_relinked")) == 1


def test_someone_outside_the_channel_cannot_relink(world):
    onboarding_id = world.linked_client()
    outcome = world.links.open_relink(onboarding_id, STRANGER)
    assert isinstance(outcome.screen, RefusedScreen) and outcome.ref is None
    with world.storage.unit_of_work() as uow:
        assert "link_session" not in uow.onboardings.require(onboarding_id).step_data
    assert len(world.audit("link_access_refused")) == 1


# --- change companies -----------------------------------------------------------------------


def test_removing_a_company_warns_about_over_access_then_applies(world):
    onboarding_id = world.linked_client()
    choice = world.links.open_companies(onboarding_id, CUSTOMER)
    assert isinstance(choice.screen, CompanyChoiceScreen)
    assert [row.id for row in choice.screen.preselected] == DEMO_IDS

    warned = world.links.choose_companies(choice.ref, CUSTOMER, DEMO_IDS[:4])
    assert isinstance(warned.screen, OverAccessScreen)
    assert [row.id for row in warned.screen.not_chosen] == ["48205"]
    _, companies, _ = world.link(onboarding_id)
    assert companies == DEMO_IDS  # nothing changes before the confirmation

    done = world.links.confirm_companies(warned.ref, CUSTOMER)
    assert isinstance(done.screen, CompletedScreen)
    _, companies, _ = world.link(onboarding_id)
    assert companies == DEMO_IDS[:4]
    assert done.invite.companies_linked == 4
    reports = [draw_row(row).payload["text"] for row in world.outbox(channel=STATUS)]
    assert len(reports) == 2
    assert "AVG" in reports[0]
    assert "Installatiebedrijf Jansen Techniek B.V." in reports[1]


def test_adding_a_company_links_it_with_its_guid(world):
    onboarding_id = world.linked_client(companies=DEMO_IDS[:4])
    choice = world.links.open_companies(onboarding_id, CUSTOMER)
    done = world.links.choose_companies(choice.ref, CUSTOMER, DEMO_IDS)
    assert isinstance(done.screen, CompletedScreen)
    with world.storage.unit_of_work() as uow:
        link = uow.links.for_onboarding(onboarding_id)
        added = [row for row in uow.links.companies(link.id) if row.provider_company_ref == "48205"]
    expected_guid = world.nmbrs.accounts[DEMO_USERNAME].company(48205).guid
    assert [row.guid for row in added] == [expected_guid]
    [report] = world.outbox(channel=STATUS)
    assert "Installatiebedrijf Jansen Techniek B.V." in draw_row(report).payload["text"]


def test_going_back_from_the_over_access_warning_keeps_the_choice(world):
    onboarding_id = world.linked_client()
    choice = world.links.open_companies(onboarding_id, CUSTOMER)
    warned = world.links.choose_companies(choice.ref, CUSTOMER, DEMO_IDS[:2])
    back = world.links.back_to_choice(warned.ref, CUSTOMER)
    assert isinstance(back.screen, CompanyChoiceScreen)
    assert [row.id for row in back.screen.preselected] == DEMO_IDS[:2]


def test_changing_companies_of_a_broken_link_asks_for_a_relink_first(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    outcome = world.links.open_companies(onboarding_id, CUSTOMER)
    assert isinstance(outcome.screen, RelinkFirstScreen)
    assert outcome.screen.reason == "wrong_credentials"
    link, _, _ = world.link(onboarding_id)
    assert link_state(link) == NEEDS_RELINK
    assert len(world.outbox(channel=STATUS)) == 1 and len(world.outbox(channel=CHANNEL)) == 1
    again = world.links.open_companies(onboarding_id, CUSTOMER)
    assert isinstance(again.screen, RelinkFirstScreen)
    assert len(world.outbox(channel=STATUS)) == 1


def test_a_company_the_login_does_not_see_cannot_be_chosen(world):
    from bot.core.model import InvalidInput

    onboarding_id = world.linked_client()
    choice = world.links.open_companies(onboarding_id, CUSTOMER)
    with pytest.raises(InvalidInput):
        world.links.choose_companies(choice.ref, CUSTOMER, [99999])


def test_type_ahead_searches_the_companies_of_the_change(world):
    onboarding_id = world.linked_client()
    world.links.open_companies(onboarding_id, CUSTOMER)
    found = world.links.suggest_companies(onboarding_id, CUSTOMER, "bakker")
    assert [row.id for row in found] == ["48201"]
    assert world.links.suggest_companies(onboarding_id, STRANGER, "bakker") == []


# --- customer stop and remove ---------------------------------------------------------------


def open_onboarding(world: World) -> int:
    status = world.onboarding.create_invite(
        client_name="Bakkerij de Vries",
        channel_id=CHANNEL,
        team_id="T0CUSTOMER",
        started_by=MANAGER,
    )
    return status.onboarding_id


def test_the_customer_stops_an_open_onboarding_and_the_manager_is_told(world):
    onboarding_id = open_onboarding(world)
    result = world.links.stop_onboarding(onboarding_id, CUSTOMER)
    assert result.kind == STOPPED and result.invite.state == State.CANCELLED
    [dm] = world.outbox(channel=MANAGER)
    assert (
        "<@U0CUSTOMER>" in draw_row(dm).payload["text"]
        and "Bakkerij de Vries" in draw_row(dm).payload["text"]
    )
    assert [row.kind for row in world.outbox(channel=STATUS)] == [
        "status_thread",
        "report.invite_created",
        "report.onboarding_cancelled",
    ]
    again = world.links.stop_onboarding(onboarding_id, CUSTOMER)
    assert again.kind == ALREADY_ENDED
    assert len(world.outbox(channel=MANAGER)) == 1


def test_an_account_manager_stopping_their_own_onboarding_gets_no_message_about_it(world):
    onboarding_id = open_onboarding(world)
    manager = Actor(user_id=MANAGER, team_id="T0OURS", channel_id=CHANNEL)
    assert world.links.stop_onboarding(onboarding_id, manager).kind == STOPPED
    assert world.outbox(channel=MANAGER) == []


def test_someone_outside_the_channel_cannot_stop_an_onboarding(world):
    onboarding_id = open_onboarding(world)
    assert world.links.stop_onboarding(onboarding_id, STRANGER).kind == REFUSED
    with world.storage.unit_of_work() as uow:
        assert uow.onboardings.require(onboarding_id).state == State.INVITED


def test_the_customer_removes_a_link_its_token_is_erased_and_the_manager_told(world):
    onboarding_id = world.linked_client()
    result = world.links.remove_link(onboarding_id, CUSTOMER)
    assert result.kind == REMOVED and result.invite.state == State.UNLINKED
    link, _, token = world.link(onboarding_id)
    assert link_state(link) == UNLINKED and token is None and link.encrypted_secret is None
    assert len(world.outbox(channel=MANAGER)) == 1
    assert [row.kind for row in world.outbox(channel=STATUS)] == ["report.link_unlinked"]
    assert world.links.remove_link(onboarding_id, CUSTOMER).kind == ALREADY_ENDED
    assert isinstance(world.links.open_relink(onboarding_id, CUSTOMER).screen, EndedScreen)


# --- retention ------------------------------------------------------------------------------


def test_a_cancelled_onboardings_data_is_erased_after_the_retention_period(world):
    with freeze_time("2025-03-03 10:00:00"):
        onboarding_id = open_onboarding(world)
        opened = world.onboarding.open(onboarding_id, CUSTOMER)
        world.onboarding.accept_terms(opened.ref, CUSTOMER, accepted=True, package="nmbrs")
        with world.storage.unit_of_work() as uow:
            onboarding = uow.onboardings.require(onboarding_id)
            onboarding.step_data["draft"] = {"username": "loon@acme.nl"}
            uow.onboardings.set_pending_token(onboarding, DEMO_TOKEN)
            uow.commit()
    with freeze_time("2025-03-04 10:00:00"):
        world.onboarding.cancel(onboarding_id, Actor(MANAGER))

    with freeze_time("2025-04-03 09:59:00"):  # 30 days after, less a minute
        assert world.maintenance.erase_ended_data().onboardings == 0
    with freeze_time("2025-04-03 10:00:00"):
        assert world.maintenance.erase_ended_data().onboardings == 1
        assert world.maintenance.erase_ended_data().onboardings == 0

    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
        trail = uow.audit.for_onboarding(onboarding_id)
    assert onboarding.data_erased_at == datetime(2025, 4, 3, 10, tzinfo=UTC)
    assert set(onboarding.step_data) <= {"step", "last", "started_at"}
    assert onboarding.pending_token is None
    kinds = [event.kind for event in trail]
    assert "onboarding_cancelled" in kinds and kinds[-1] == "onboarding_data_erased"
    assert DEMO_TOKEN not in str([event.detail for event in trail])


def test_retention_leaves_completed_onboardings_and_their_links(world):
    with freeze_time("2025-03-03 10:00:00"):
        onboarding_id = world.linked_client()
    with freeze_time("2026-04-07 10:00:00"):  # 400 days later
        assert world.maintenance.erase_ended_data().onboardings == 0
    _, companies, token = world.link(onboarding_id)
    assert companies == DEMO_IDS and token == DEMO_TOKEN


def test_an_abandoned_relink_drops_its_kept_token_after_a_day(world):
    onboarding_id = world.linked_client()
    world.revoke_token()
    world.nmbrs.accounts[DEMO_USERNAME].switch_off("EmployeeService.Schedule_Get")
    with freeze_time("2025-03-03 10:00:00"):
        outcome = relink(world, onboarding_id)
        assert isinstance(outcome.screen, PermissionsScreen)
    with world.storage.unit_of_work() as uow:
        assert uow.onboardings.require(onboarding_id).pending_token is not None

    with freeze_time("2025-03-04 10:00:00"):
        assert world.maintenance.erase_ended_data().sessions == 1

    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
    assert onboarding.pending_token is None and "link_session" not in onboarding.step_data
    world.nmbrs.accounts[DEMO_USERNAME].switch_on("EmployeeService.Schedule_Get")
    again = world.links.check_again(outcome.ref, CUSTOMER)
    assert not isinstance(again.screen, CompletedScreen)


def test_a_step_ref_of_another_onboarding_is_not_found(world):
    outcome = world.links.check_again(StepRef(onboarding_id=404, step=0), CUSTOMER)
    assert outcome.screen.reason == "not_found"


def test_a_change_of_companies_points_out_those_another_client_linked(world):
    other = world.linked_client(companies=["48201"], name="Smith's Bakery")
    onboarding_id = world.linked_client(companies=[DEMO_IDS[-1]])
    choice = world.links.open_companies(onboarding_id, CUSTOMER)
    assert [company.id for company in choice.screen.already_linked] == ["48201"]
    # A link's own companies are not "another client's".
    theirs = world.links.open_companies(other, CUSTOMER).screen.already_linked
    assert [company.id for company in theirs] == [DEMO_IDS[-1]]
