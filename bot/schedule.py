"""When things are due: reminders, expiry and the daily digest, run once per due time.

- `ReminderPolicy` answers the questions about one onboarding from its last progress: which
  nudge is due, and is it stalled (no progress for the first nudge's period).
- A `Job` pairs a due-time rule ("09:00 on working days", "every hour within working hours")
  with the work. `Scheduler` asks each job for its latest due time and runs it once per due
  time across all processes: the first process to insert the `JobRun` row (unique on job and
  due time) runs it, the others see the key taken. A run that fails gives its claim back, so the
  next poll tries again; the work itself is idempotent (dedupe keys on the outbox, state
  transitions that happen once), so a retry never doubles a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.clock import Clock, WorkingCalendar
from bot.settings import Settings
from storage.models import JobRun

logger = logging.getLogger(__name__)

DueRule = Callable[[datetime], datetime | None]


def daily_on_working_days(calendar: WorkingCalendar, at: time) -> DueRule:
    """Due at local time `at` on working days; the latest due time is today's, once passed."""

    def latest_due(now: datetime) -> datetime | None:
        today = calendar.local(now).date()
        if not calendar.is_working_day(today):
            return None
        due = calendar.at(today, at)
        return due if due <= now else None

    return latest_due


def daily(calendar: WorkingCalendar, at: time) -> DueRule:
    """Due at local time `at` every day; the latest due time is today's, once passed."""

    def latest_due(now: datetime) -> datetime | None:
        due = calendar.at(calendar.local(now).date(), at)
        return due if due <= now else None

    return latest_due


def hourly(calendar: WorkingCalendar, *, within: tuple[time, time] | None = None) -> DueRule:
    """Due on every full hour; with `within`, only on working days between those local times."""

    def latest_due(now: datetime) -> datetime | None:
        hour = calendar.local(now).replace(minute=0, second=0, microsecond=0)
        if within is not None:
            start, end = within
            if not calendar.is_working_day(hour.date()) or not start <= hour.time() <= end:
                return None
        return hour.astimezone(UTC)

    return latest_due


@dataclass(frozen=True)
class ReminderPolicy:
    """Nudges after working days without progress. (Expiry is the onboarding's `expires_at`,
    set by the service.)"""

    calendar: WorkingCalendar
    first_working_days: int = 3
    second_working_days: int = 7

    def nudge_due_at(self, last_progress_at: datetime, nudge: int) -> datetime:
        days = self.first_working_days if nudge == 1 else self.second_working_days
        return self.calendar.add_working_days(last_progress_at, days)

    def nudge_due(self, last_progress_at: datetime, now: datetime) -> int | None:
        """The latest nudge (1 or 2) due by `now`, or None."""
        for nudge in (2, 1):
            if self.nudge_due_at(last_progress_at, nudge) <= now:
                return nudge
        return None

    def is_stalled(self, last_progress_at: datetime, now: datetime) -> bool:
        return self.nudge_due_at(last_progress_at, 1) <= now


def working_calendar(settings: Settings) -> WorkingCalendar:
    return WorkingCalendar(settings.timezone, public_holidays=settings.dutch_public_holidays)


def reminder_policy(settings: Settings) -> ReminderPolicy:
    return ReminderPolicy(
        calendar=working_calendar(settings),
        first_working_days=settings.reminder_first_working_days,
        second_working_days=settings.reminder_second_working_days,
    )


@dataclass(frozen=True)
class Job:
    name: str
    latest_due: DueRule
    # Does the work for one due time; runs in a worker thread.
    run: Callable[[datetime], object]


class Scheduler:
    """Runs each job once per due time, whichever process gets there first."""

    def __init__(self, engine: Engine, clock: Clock, jobs: list[Job], *, poll_seconds: float):
        self.engine = engine
        self.clock = clock
        self.jobs = jobs
        self.poll_seconds = poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.run_due()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def run_due(self) -> list[str]:
        """Run every job whose latest due time has not run yet; returns the names run."""
        now = self.clock.now()
        ran = []
        for job in self.jobs:
            due_at = job.latest_due(now)
            if due_at is None:
                continue
            try:
                claimed = await asyncio.to_thread(self._claim, job.name, due_at)
            except Exception:
                logger.exception("could not claim job %s due %s", job.name, due_at.isoformat())
                continue
            if not claimed:
                continue
            try:
                await asyncio.to_thread(job.run, due_at)
            except Exception:
                logger.exception("job %s due %s failed; it will run again", job.name, due_at)
                with suppress(Exception):
                    await asyncio.to_thread(self._release, job.name, due_at)
                continue
            ran.append(job.name)
        return ran

    def _claim(self, job: str, due_at: datetime) -> bool:
        with Session(self.engine) as session:
            session.add(JobRun(job=job, due_at=due_at, started_at=self.clock.now()))
            try:
                session.commit()
            except IntegrityError:
                return False
            return True

    def _release(self, job: str, due_at: datetime) -> None:
        with Session(self.engine) as session:
            session.execute(delete(JobRun).where(JobRun.job == job, JobRun.due_at == due_at))
            session.commit()


Runner = Callable[[asyncio.Event], Awaitable[None]]


@asynccontextmanager
async def running_in_background(runners: Sequence[Runner]) -> AsyncIterator[None]:
    """Run each `runner(stop)` as a task for as long as the block lasts (e.g. a server's
    lifespan); on leaving, set `stop` and wait for every task to finish its round."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner(stop)) for runner in runners]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
