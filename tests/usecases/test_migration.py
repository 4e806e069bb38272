"""Moving the SOAP links to the REST API: the requests in the clients' channels, the count of
links on the REST API with the days left, and every SOAP link needing a relink after the end
date; on SQLite and PostgreSQL, with injected clocks before and after 2027-03-01."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from bot.bootstrap import build_container, job_scheduler
from bot.clock import WorkingCalendar
from bot.core.payroll import NMBRS_REST
from bot.reports import LinkEventNotices
from bot.schedule import working_calendar
from bot.settings import Settings
from bot.usecases.maintenance import SKIPPED
from bot.usecases.migration import LinkMigration, move_request_key
from bot.usecases.providers import Providers
from bot.usecases.scheduled import link_jobs
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from storage.crypto import generate_key
from tests.usecases.link_world import CHANNEL, STATUS, MigratedStorage, World, make_world

BEFORE_THE_END = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 90 days left
END_IN_AMSTERDAM = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)  # 1 March, 00:30 in Amsterdam
AFTER_THE_END = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def storage(database_url: str) -> Iterator[MigratedStorage]:
    storage = MigratedStorage(database_url, generate_key())
    yield storage
    storage.close()


@pytest.fixture
def world(nmbrs, storage) -> Iterator[World]:
    provider = SoapNmbrsProvider(nmbrs.base_url)
    yield make_world(nmbrs, storage, provider)
    provider.close()


def migration(world: World, clock: Clock) -> LinkMigration:
    return LinkMigration(
        unit_of_work=world.storage.unit_of_work,
        providers=Providers.only(world.provider, soap_ends_on=date(2027, 3, 1)),
        notices=LinkEventNotices(status_channel=STATUS, language="nl"),
        calendar=WorkingCalendar("Europe/Amsterdam"),
        clock=clock,
    )


def move_to_rest(world: World, onboarding_id: int) -> None:
    with world.storage.unit_of_work() as uow:
        link = uow.links.for_onboarding(onboarding_id)
        link.provider = NMBRS_REST
        uow.session.add(link)
        uow.commit()


def test_the_status_counts_the_links_on_the_rest_api_and_the_days_left(world):
    first = world.linked_client(name="Eén")
    world.linked_client(name="Twee")
    move_to_rest(world, first)
    status = migration(world, Clock(BEFORE_THE_END)).status()
    assert (status.on_rest, status.total, status.still_soap) == (1, 2, 1)
    assert (status.days_left, status.ended) == (90, False)


def test_the_days_left_count_the_local_day(world):
    status = migration(world, Clock(END_IN_AMSTERDAM)).status()
    assert (status.days_left, status.ended) == (0, True)


def test_migrate_asks_every_active_soap_link_once_with_a_relink_button(world):
    first = world.linked_client(name="Eén")
    second = world.linked_client(name="Twee")
    move_to_rest(world, second)
    moves = migration(world, Clock(BEFORE_THE_END))
    [request] = moves.request_moves()
    assert (request.client_name, request.asked, request.asked_before) == ("Eén", True, False)
    [again] = moves.request_moves()
    assert (again.asked, again.asked_before) == (False, True)
    asked = [row for row in world.outbox(channel=CHANNEL) if row.kind == "link_move_request"]
    assert [row.dedupe_key for row in asked] == [move_request_key(world.link_id(first))]
    assert asked[0].notice["values"]["event"]["soap_ends_on"] == "2027-03-01"
    assert [row.kind for row in world.outbox(channel=STATUS)] == ["report.link_move_requested"]
    assert len(world.audit("link_move_requested")) == 1


def test_a_dry_run_says_what_it_would_ask_and_changes_nothing(world):
    world.linked_client(name="Eén")
    [request] = migration(world, Clock(BEFORE_THE_END)).request_moves(dry_run=True)
    assert (request.asked, request.asked_before, request.companies) == (False, False, 5)
    assert world.outbox() == [] and world.audit("link_move_requested") == []


def test_before_the_end_date_soap_links_stay_active(world):
    onboarding_id = world.linked_client()
    assert migration(world, Clock(BEFORE_THE_END)).end_soap() == []
    link, _, _ = world.link(onboarding_id)
    assert link.status == "active"


def test_after_the_end_date_every_active_soap_link_needs_a_relink_reported_once(world):
    soap = world.linked_client(name="Eén")
    rest = world.linked_client(name="Twee")
    move_to_rest(world, rest)
    moves = migration(world, Clock(AFTER_THE_END))
    assert moves.end_soap() == [world.link_id(soap)]
    assert moves.end_soap() == []
    link, _, token = world.link(soap)
    assert (link.status, link.problem["reason"]) == ("needs_relink", "soap_ended")
    assert world.link(rest)[0].status == "active"
    notices = [row for row in world.outbox(channel=CHANNEL) if row.kind == "link_notice"]
    assert len(notices) == 1
    assert notices[0].notice["values"]["event"]["reason"] == "soap_ended"
    status = moves.status()
    assert (status.ended, status.still_soap, status.days_left) == (True, 1, 0)


def test_a_link_the_soap_end_marked_is_not_recovered_by_the_daily_verification(world):
    onboarding_id = world.linked_client()
    migration(world, Clock(AFTER_THE_END)).end_soap()
    # The sandbox still answers SOAP; Nmbrs will not: only a relink by consent helps.
    result = world.maintenance.verify(world.link_id(onboarding_id))
    assert (result.outcome, result.reason) == (SKIPPED, "soap_ended")
    assert world.link(onboarding_id)[0].status == "needs_relink"


def test_the_soap_end_runs_daily_before_the_verification(world):
    settings = Settings(_env_file=None)
    moves = migration(world, Clock(AFTER_THE_END))
    jobs = link_jobs(
        world.maintenance, calendar=working_calendar(settings), settings=settings, migration=moves
    )
    names = [job.name for job in jobs]
    assert names.index("end_soap_links") + 1 == names.index("verify_links")
    onboarding_id = world.linked_client()
    jobs[names.index("end_soap_links")].run(AFTER_THE_END)
    assert world.link(onboarding_id)[0].status == "needs_relink"


def test_serve_schedules_the_soap_end():
    settings = Settings(_env_file=None, encryption_keys=generate_key(), database_url="sqlite://")
    container = build_container(settings)
    try:
        names = [job.name for job in job_scheduler(container).jobs]
    finally:
        container.close()
    assert "end_soap_links" in names
