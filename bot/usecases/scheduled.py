"""The scheduled work: what runs when (bot.schedule runs the jobs)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from bot.clock import WorkingCalendar
from bot.schedule import Job, daily, daily_on_working_days, hourly
from bot.settings import Settings
from bot.usecases.delivery import DeliveryControl
from bot.usecases.maintenance import LinkMaintenance
from bot.usecases.manager import ManagerTools
from bot.usecases.migration import LinkMigration


def scheduled_jobs(
    tools: ManagerTools, *, calendar: WorkingCalendar, settings: Settings
) -> list[Job]:
    """The digest at DIGEST_TIME on working days, nudges every working hour, expiry hourly."""
    working_hours = (settings.working_hours_start, settings.working_hours_end)
    return [
        Job("digest", daily_on_working_days(calendar, settings.digest_time), tools.send_digest),
        Job("nudges", hourly(calendar, within=working_hours), tools.send_nudges),
        Job("expiry", hourly(calendar), tools.expire_overdue),
    ]


def link_jobs(
    maintenance: LinkMaintenance,
    *,
    calendar: WorkingCalendar,
    settings: Settings,
    migration: LinkMigration | None = None,
) -> list[Job]:
    """Verification of every link daily at LINK_VERIFY_TIME, the renewal of REST grants (each
    verified after its refresh) daily an hour before it, and the retention job hourly; with
    `migration`, from the SOAP API's end date on, every active SOAP link marked needs_relink
    daily at LINK_VERIFY_TIME too (before the verification)."""

    def verify(_due: datetime) -> None:
        maintenance.verify_all()

    def renew(_due: datetime) -> None:
        maintenance.renew_grants()

    renew_at = (
        datetime.combine(date(2000, 1, 2), settings.link_verify_time) - timedelta(hours=1)
    ).time()

    def erase(_due: datetime) -> None:
        maintenance.erase_ended_data()

    jobs = []
    if migration is not None:
        soap_links = migration

        def end_soap(_due: datetime) -> None:
            soap_links.end_soap()

        jobs.append(Job("end_soap_links", daily(calendar, settings.link_verify_time), end_soap))
    return [
        Job("renew_grants", daily(calendar, renew_at), renew),
        *jobs,
        Job("verify_links", daily(calendar, settings.link_verify_time), verify),
        Job("erase_ended_data", hourly(calendar), erase),
    ]


# When the outbox is pruned, local time (a quiet hour).
OUTBOX_PRUNE_TIME = time(3, 0)


def outbox_jobs(delivery: DeliveryControl, *, calendar: WorkingCalendar) -> list[Job]:
    """The outbox's retention: sent messages pruned daily (OUTBOX_RETENTION_DAYS)."""
    return [Job("prune_outbox", daily(calendar, OUTBOX_PRUNE_TIME), delivery.prune)]
