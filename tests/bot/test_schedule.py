"""Working days, due times and the once-per-due-time scheduler (time frozen with freezegun)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.clock import SystemClock, WorkingCalendar, dutch_public_holidays, easter_sunday
from bot.schedule import (
    Job,
    ReminderPolicy,
    Scheduler,
    daily_on_working_days,
    hourly,
)
from storage.db import make_engine
from storage.models import JobRun

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
calendar = WorkingCalendar("Europe/Amsterdam")
clock = SystemClock()


def local(*args: int) -> datetime:
    """A wall-clock moment in Amsterdam, as the aware UTC moment the code works with."""
    return datetime(*args, tzinfo=AMSTERDAM).astimezone(UTC)


# --- the working-day calendar ---------------------------------------------------------------


def test_easter_falls_on_the_known_dates() -> None:
    assert easter_sunday(2025) == date(2025, 4, 20)
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2027) == date(2027, 3, 28)


def test_dutch_public_holidays_of_2026() -> None:
    assert dutch_public_holidays(2026) == {
        date(2026, 1, 1),
        date(2026, 4, 6),  # Easter Monday
        date(2026, 4, 27),  # King's Day
        date(2026, 5, 14),  # Ascension Day
        date(2026, 5, 25),  # Whit Monday
        date(2026, 12, 25),
        date(2026, 12, 26),
    }


def test_kings_day_on_a_sunday_moves_to_saturday_and_liberation_day_counts_in_lustrum_years() -> (
    None
):
    holidays_2025 = dutch_public_holidays(2025)
    assert date(2025, 4, 26) in holidays_2025 and date(2025, 4, 27) not in holidays_2025
    assert date(2025, 5, 5) in holidays_2025
    assert date(2026, 5, 5) not in dutch_public_holidays(2026)


def test_weekends_and_holidays_are_not_working_days() -> None:
    assert calendar.is_working_day(date(2026, 11, 27))  # a Friday
    assert not calendar.is_working_day(date(2026, 11, 28))  # Saturday
    assert not calendar.is_working_day(date(2026, 11, 29))  # Sunday
    assert not calendar.is_working_day(date(2026, 4, 27))  # King's Day, a Monday
    assert WorkingCalendar("Europe/Amsterdam", public_holidays=False).is_working_day(
        date(2026, 4, 27)
    )


def test_adding_working_days_skips_the_weekend_and_keeps_the_time_of_day() -> None:
    friday_afternoon = local(2026, 11, 27, 15, 0)
    assert calendar.add_working_days(friday_afternoon, 3) == local(2026, 12, 2, 15, 0)


def test_adding_working_days_from_a_weekend_counts_from_monday_morning() -> None:
    saturday = local(2026, 11, 28, 11, 30)
    assert calendar.add_working_days(saturday, 3) == local(2026, 12, 3, 0, 0)


def test_adding_working_days_skips_easter_monday_but_not_good_friday() -> None:
    thursday_before_easter = local(2026, 4, 2, 10, 0)
    assert calendar.add_working_days(thursday_before_easter, 3) == local(2026, 4, 8, 10, 0)


def test_adding_working_days_across_the_summer_time_change_keeps_the_local_time() -> None:
    before = local(2026, 3, 26, 10, 0)  # CET, UTC+1
    after = calendar.add_working_days(before, 3)  # CEST, UTC+2
    assert after == local(2026, 3, 31, 10, 0)
    assert after.hour == 8


# --- due times --------------------------------------------------------------------------------

digest_due = daily_on_working_days(calendar, time(9, 0))
working_hours_due = hourly(calendar, within=(time(9, 0), time(17, 0)))
every_hour_due = hourly(calendar)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(2026, 11, 26, 8, 59), None),
        (local(2026, 11, 26, 9, 0), local(2026, 11, 26, 9, 0)),
        (local(2026, 11, 26, 23, 30), local(2026, 11, 26, 9, 0)),
        (local(2026, 11, 28, 10, 0), None),  # Saturday
        (local(2026, 4, 27, 10, 0), None),  # King's Day
    ],
)
def test_the_digest_is_due_at_nine_on_working_days_only(
    moment: datetime, expected: datetime | None
) -> None:
    with freeze_time(moment):
        assert digest_due(clock.now()) == expected


def test_the_digest_time_is_local_time_in_winter_and_in_summer() -> None:
    with freeze_time(datetime(2026, 1, 15, 8, 0, tzinfo=UTC)):
        assert digest_due(clock.now()) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    with freeze_time(datetime(2026, 7, 15, 7, 0, tzinfo=UTC)):
        assert digest_due(clock.now()) == datetime(2026, 7, 15, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(2026, 11, 26, 8, 30), None),
        (local(2026, 11, 26, 9, 15), local(2026, 11, 26, 9, 0)),
        (local(2026, 11, 26, 17, 45), local(2026, 11, 26, 17, 0)),
        (local(2026, 11, 26, 18, 5), None),
        (local(2026, 11, 29, 11, 0), None),  # Sunday
    ],
)
def test_working_hour_jobs_are_due_on_the_hour_within_working_hours(
    moment: datetime, expected: datetime | None
) -> None:
    with freeze_time(moment):
        assert working_hours_due(clock.now()) == expected


def test_hourly_jobs_are_due_on_every_hour_of_every_day() -> None:
    with freeze_time(local(2026, 11, 29, 3, 20)):
        assert every_hour_due(clock.now()) == local(2026, 11, 29, 3, 0)


# --- reminders and expiry -----------------------------------------------------------------

policy = ReminderPolicy(calendar=calendar)
monday_morning = local(2026, 11, 23, 10, 0)


@pytest.mark.parametrize(
    ("moment", "nudge"),
    [
        (local(2026, 11, 26, 9, 59), None),
        (local(2026, 11, 26, 10, 0), 1),  # Thursday: three working days later
        (local(2026, 12, 2, 9, 59), 1),
        (local(2026, 12, 2, 10, 0), 2),  # Wednesday after: seven working days later
    ],
)
def test_nudges_fall_three_and_seven_working_days_after_the_last_progress(
    moment: datetime, nudge: int | None
) -> None:
    with freeze_time(moment):
        assert policy.nudge_due(monday_morning, clock.now()) == nudge


def test_an_onboarding_is_stalled_from_the_first_nudge_on() -> None:
    with freeze_time(local(2026, 11, 26, 9, 0)):
        assert not policy.is_stalled(monday_morning, clock.now())
    with freeze_time(local(2026, 11, 26, 11, 0)):
        assert policy.is_stalled(monday_morning, clock.now())


def test_the_weekend_does_not_count_towards_a_nudge() -> None:
    friday = local(2026, 11, 27, 16, 0)
    with freeze_time(local(2026, 12, 1, 17, 0)):  # Tuesday: only Monday and Tuesday passed
        assert policy.nudge_due(friday, clock.now()) is None


def test_whole_working_days_without_progress_are_counted_like_the_nudges_count_them() -> None:
    assert calendar.working_days_between(monday_morning, local(2026, 11, 26, 9, 59)) == 2
    assert calendar.working_days_between(monday_morning, local(2026, 11, 26, 10, 0)) == 3
    assert calendar.working_days_between(monday_morning, local(2026, 12, 2, 10, 0)) == 7
    assert calendar.working_days_between(monday_morning, monday_morning) == 0


# --- the scheduler --------------------------------------------------------------------------


def job_runs(engine: Engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(JobRun)).scalar_one()


async def test_two_schedulers_run_a_job_once_per_due_time(engine: Engine) -> None:
    runs: list[datetime] = []
    job = Job("digest", digest_due, runs.append)
    first = Scheduler(engine, clock, [job], poll_seconds=1)
    second = Scheduler(make_engine(engine.url), clock, [job], poll_seconds=1)

    with freeze_time(local(2026, 11, 26, 9, 0, 5), real_asyncio=True):
        assert await first.run_due() == ["digest"]
        assert await second.run_due() == []
        assert await first.run_due() == []
    with freeze_time(local(2026, 11, 27, 9, 0, 5), real_asyncio=True):
        assert await second.run_due() == ["digest"]
        assert await first.run_due() == []

    second.engine.dispose()
    assert runs == [local(2026, 11, 26, 9, 0), local(2026, 11, 27, 9, 0)]
    assert job_runs(engine) == 2


async def test_a_failed_run_gives_its_claim_back_and_runs_again(engine: Engine) -> None:
    attempts: list[datetime] = []

    def flaky(due_at: datetime) -> None:
        attempts.append(due_at)
        if len(attempts) == 1:
            raise RuntimeError("database went away")

    scheduler = Scheduler(engine, clock, [Job("digest", digest_due, flaky)], poll_seconds=1)
    with freeze_time(local(2026, 11, 26, 9, 1), real_asyncio=True):
        assert await scheduler.run_due() == []
        assert job_runs(engine) == 0
        assert await scheduler.run_due() == ["digest"]
    assert attempts == [local(2026, 11, 26, 9, 0)] * 2


async def test_nothing_runs_before_its_time(engine: Engine) -> None:
    runs: list[datetime] = []
    scheduler = Scheduler(engine, clock, [Job("digest", digest_due, runs.append)], poll_seconds=1)
    with freeze_time(local(2026, 11, 28, 9, 30), real_asyncio=True):  # Saturday
        assert await scheduler.run_due() == []
    assert runs == [] and job_runs(engine) == 0
