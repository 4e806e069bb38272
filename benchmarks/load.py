"""200 onboardings at once against the served bot, over HTTP, on this machine.

`onboard-bot serve` runs in its own process on PostgreSQL (with --workers N: N forked processes
on one socket); the Nmbrs sandbox (50 ms per call) in another; the fake Slack (devslack) in this
one, where 200 account managers each type `/onboard`, fill in the start modal, and their 200
customers click Start and go through terms, preparation, credentials (each with a Nmbrs login of
its own) and the choice of companies, all at the same time. Every request is signed as Slack
signs it and timed until its ack.

Prints throughput, the acks' p50/p99/max (Slack's limit: 3 s), whether every onboarding completed
with exactly one link, invite and status report per event, and the memory of the serving process.

    .venv/bin/python -m benchmarks.load [--onboardings 200] [--latency 0.05] [--workers 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import httpx
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    STATUS_CHANNEL,
    bot_environment,
    fresh_database,
    load_average,
    machine_summary,
    ms,
    onboard_bot_serve,
    percentile,
    sandbox_process,
)
from bot.i18n import catalogue
from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.manager import CALLBACK_RESULT, CALLBACK_START
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANIES,
    ACTION_PACKAGE,
    ACTION_TERMS,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from devslack import Delivery, DevSlack, Message, SlackUser, View, run_devslack
from devslack.workspace import (
    BOT_USER,
    CUSTOMER_TEAM,
    OUR_TEAM,
    Channel,
    User,
    Workspace,
    default_workspace,
)
from payroll.nmbrs_soap.sandbox import SandboxAccount, SandboxCompany, demo_companies
from storage.models import Onboarding, OutboxMessage, PayrollLink

ONBOARDINGS = 200
LATENCY = 0.05
SLACK_ACK_LIMIT = 3.0
# The driver waits longer than Slack would, so a slow ack is measured rather than cut off.
DRIVER_ACK_TIMEOUT = 10.0
STEP_TIMEOUT = 120.0
POLL_SECONDS = 0.05
# Account managers start the invites this many at a time; the customers then all go at once.
INVITE_CONCURRENCY = 10
OUTBOX_DRAIN_TIMEOUT = 120.0

T = TypeVar("T")

NL = catalogue("nl")
WORKING_TITLE = NL.text("customer.modal.title_working")
COMPLETED_TITLE = NL.text("customer.modal.title_completed")
STARTED_TITLE = NL.text("manager.result.title_started")
COMPANY_IDS = [str(company.id) for company in demo_companies()]


def manager_id(n: int) -> str:
    return f"U0LOADM{n:03d}"


def customer_id(n: int) -> str:
    return f"U0LOADC{n:03d}"


def channel_id(n: int) -> str:
    return f"C0LOAD{n:03d}"


def client_name(n: int) -> str:
    return f"Loadtest Klant {n:03d} B.V."


def nmbrs_username(n: int) -> str:
    return f"klant{n:03d}@voorbeeld.nl"


def nmbrs_token(n: int) -> str:
    return hashlib.sha256(f"load-{n}".encode()).hexdigest()[:32]


def load_accounts(
    count: int = ONBOARDINGS, companies: Callable[[], list[SandboxCompany]] = demo_companies
) -> list[SandboxAccount]:
    """One Nmbrs login per customer, each seeing the five demo companies (or `companies()`)."""
    return [
        SandboxAccount(nmbrs_username(n), nmbrs_token(n), f"klant{n:03d}", companies())
        for n in range(1, count + 1)
    ]


def load_workspace(count: int) -> Workspace:
    """The default identities plus, per onboarding, an account manager, a customer contact and
    the Slack Connect channel they share with the bot."""
    workspace = default_workspace()
    for n in range(1, count + 1):
        workspace.add_user(User(manager_id(n), OUR_TEAM, f"manager{n}", f"Manager {n}"))
        workspace.add_user(User(customer_id(n), CUSTOMER_TEAM, f"klant{n}", f"Klant {n}"))
        workspace.add_channel(
            Channel(
                channel_id(n),
                f"loadtest-klant-{n:03d}",
                [manager_id(n), customer_id(n), BOT_USER],
                shared_team_ids=[OUR_TEAM, CUSTOMER_TEAM],
            )
        )
    return workspace


@dataclass
class Journey:
    number: int
    started: float = 0.0
    finished: float = 0.0
    error: str | None = None
    # Seconds from the person's act until the next screen, per step.
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = now - self.started - sum(self.steps.values())


def until(found: Callable[[], T | None], timeout: float = STEP_TIMEOUT) -> T:
    """Poll `found()` every POLL_SECONDS until it returns something. (The fake Slack's own
    waits wake every waiting person on every change: with 200 people that costs the driver
    more CPU than the bot gets, on a machine the two share.)"""
    deadline = time.monotonic() + timeout
    while True:
        result = found()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not seen within {timeout} s")
        time.sleep(POLL_SECONDS)


def modal(person: SlackUser, ready: Callable[[View], bool]) -> View:
    def found() -> View | None:
        view = person.modal
        return view if view is not None and ready(view) else None

    return until(found)


def settled(person: SlackUser, callback_id: str) -> View:
    return modal(
        person, lambda view: view.title != WORKING_TITLE and view.callback_id == callback_id
    )


def invite_in(person: SlackUser, channel: str) -> Message:
    """The bot's invite with its Start button, as the person sees it in the channel."""

    def found() -> Message | None:
        invites = [
            message
            for message in person.messages(channel)
            if message.user == BOT_USER and ACTION_START in json.dumps(message.blocks)
        ]
        return invites[-1] if invites else None

    return until(found)


def timed(number: int, steps: Callable[[Journey], None]) -> Journey:
    journey = Journey(number, started=time.perf_counter())
    try:
        steps(journey)
    except Exception as error:  # noqa: BLE001 - every failure is counted and shown
        reached = f" (after {list(journey.steps)[-1]})" if journey.steps else ""
        journey.error = f"{type(error).__name__}: {error}{reached}"
    journey.finished = time.perf_counter()
    return journey


def invite(slack: DevSlack, number: int) -> Journey:
    """An account manager's /onboard: the start modal, filled in and submitted, until the invite
    is in the client's channel."""
    manager, channel = slack.user(manager_id(number)), channel_id(number)

    def steps(journey: Journey) -> None:
        manager.command("/onboard", channel=channel)
        start = settled(manager, CALLBACK_START)
        manager.fill(
            start,
            {
                "client_name.value": client_name(number),
                "channel.value": channel,
                "contact.value": customer_id(number),
                "language.value": "nl",
            },
        )
        manager.submit(start)
        modal(
            manager,
            lambda view: view.callback_id == CALLBACK_RESULT and view.title == STARTED_TITLE,
        )

    return timed(number, steps)


def to_credentials(customer: SlackUser, channel: str, journey: Journey | None = None) -> View:
    """Start on the invite, accept the terms, read the preparation: the credentials modal."""
    customer.click(invite_in(customer, channel), ACTION_START)
    terms = settled(customer, CALLBACK_TERMS)
    if journey:
        journey.lap("start")
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    customer.submit(terms)
    preparation = settled(customer, CALLBACK_PREPARATION)
    if journey:
        journey.lap("terms")
    customer.submit(preparation)
    credentials = settled(customer, CALLBACK_CREDENTIALS)
    if journey:
        journey.lap("preparation")
    return credentials


def log_in(customer: SlackUser, credentials: View, username: str, token: str) -> View:
    """Submit the Nmbrs login: the companies modal once the check is done."""
    customer.fill(credentials, {ACTION_USERNAME: username, ACTION_TOKEN: token})
    customer.submit(credentials)
    return settled(customer, CALLBACK_COMPANIES)


def onboard(slack: DevSlack, number: int) -> Journey:
    """The customer's whole onboarding, from the Start button on the invite to the link."""
    customer, channel = slack.user(customer_id(number)), channel_id(number)

    def steps(journey: Journey) -> None:
        credentials = to_credentials(customer, channel, journey)
        companies = log_in(customer, credentials, nmbrs_username(number), nmbrs_token(number))
        journey.lap("credentials")
        customer.fill(companies, {ACTION_COMPANIES: COMPANY_IDS})
        customer.submit(companies)
        modal(customer, lambda view: view.title == COMPLETED_TITLE)
        journey.lap("companies")

    return timed(number, steps)


@dataclass
class Checks:
    """What the database and the fake Slack hold afterwards."""

    completed: int = 0
    links: int = 0
    onboardings_with_more_links: int = 0
    clients_with_more_invites: int = 0
    reports: int = 0
    reports_sent: int = 0
    duplicate_reports: int = 0
    duplicate_status_posts: int = 0
    report_kinds: Counter = field(default_factory=Counter)


def check_results(slack: DevSlack, database_url: str, count: int) -> Checks:
    checks = Checks()
    engine = create_engine(database_url)
    deadline = time.monotonic() + OUTBOX_DRAIN_TIMEOUT
    with Session(engine) as session:
        while time.monotonic() < deadline:  # let the outbox deliver what it holds
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
            if not pending:
                break
            time.sleep(0.5)
        checks.completed = session.scalar(
            select(func.count()).select_from(Onboarding).where(Onboarding.state == "completed")
        )
        per_onboarding = session.execute(
            select(PayrollLink.onboarding_id, func.count()).group_by(PayrollLink.onboarding_id)
        ).all()
        checks.links = sum(n for _, n in per_onboarding)
        checks.onboardings_with_more_links = sum(1 for _, n in per_onboarding if n > 1)
        reports = session.execute(
            select(OutboxMessage.kind, OutboxMessage.notice, OutboxMessage.status).where(
                OutboxMessage.kind.like("report.%")
            )
        ).all()
    engine.dispose()
    checks.reports = len(reports)
    checks.reports_sent = sum(1 for _, _, status in reports if status == "sent")
    checks.report_kinds = Counter(kind for kind, _, _ in reports)
    seen = Counter((kind, json.dumps(notice, sort_keys=True)) for kind, notice, _ in reports)
    checks.duplicate_reports = sum(n - 1 for n in seen.values() if n > 1)
    posts = Counter(message.text for message in slack.messages(STATUS_CHANNEL))
    checks.duplicate_status_posts = sum(n - 1 for n in posts.values() if n > 1)
    for number in range(1, count + 1):
        invites = [
            m for m in slack.messages(channel_id(number)) if ACTION_START in json.dumps(m.blocks)
        ]
        if len(invites) > 1:
            checks.clients_with_more_invites += 1
    return checks


@dataclass
class LoadResult:
    onboardings: int
    latency: float
    invites: list[Journey]
    invite_seconds: float
    journeys: list[Journey]
    wall_seconds: float
    invite_deliveries: list[Delivery]
    deliveries: list[Delivery]
    checks: Checks
    rss_before: int
    rss_after: int
    workers: int = 1

    @property
    def completed_journeys(self) -> list[Journey]:
        return [journey for journey in self.journeys if journey.error is None]

    @property
    def all_deliveries(self) -> list[Delivery]:
        return self.invite_deliveries + self.deliveries

    @property
    def slow_acks(self) -> int:
        return sum(1 for d in self.all_deliveries if d.seconds >= SLACK_ACK_LIMIT)

    @property
    def failed_acks(self) -> int:
        return sum(1 for d in self.all_deliveries if not 200 <= d.status < 300)

    @property
    def throughput(self) -> float:
        return len(self.completed_journeys) / self.wall_seconds

    def problems(self) -> list[str]:
        checks, count = self.checks, self.onboardings
        found = {
            f"{count - len(self.completed_journeys)} onboardings did not complete": len(
                self.completed_journeys
            )
            != count,
            f"{sum(1 for j in self.invites if j.error)} invites failed": any(
                j.error for j in self.invites
            ),
            f"{checks.completed} onboardings completed in the database": checks.completed != count,
            f"{checks.links} links": checks.links != count,
            "an onboarding with more than one link": checks.onboardings_with_more_links > 0,
            "a channel with more than one invite": checks.clients_with_more_invites > 0,
            "duplicate status reports": checks.duplicate_reports + checks.duplicate_status_posts
            > 0,
            f"{checks.report_kinds['report.onboarding_completed']} completion reports for "
            f"{count} onboardings": checks.report_kinds["report.onboarding_completed"] != count,
            f"{self.slow_acks} acks at or over {SLACK_ACK_LIMIT:.0f} s": self.slow_acks > 0,
            f"{self.failed_acks} requests not acknowledged with 2xx": self.failed_acks > 0,
        }
        return [problem for problem, present in found.items() if present]

    def lines(self) -> list[str]:
        acks = [delivery.seconds for delivery in self.all_deliveries]
        invite_acks = [delivery.seconds for delivery in self.invite_deliveries]
        onboarding_acks = [delivery.seconds for delivery in self.deliveries]
        durations = [journey.seconds for journey in self.completed_journeys]
        checks = self.checks
        kinds = Counter(delivery.kind for delivery in self.all_deliveries)
        problems = self.problems()
        lines = [
            f"Load: {self.onboardings} onboardings at once, Nmbrs {self.latency * 1000:.0f} ms "
            f"per call, `onboard-bot serve --workers {self.workers}` on PostgreSQL",
            f"  invites (/onboard, {INVITE_CONCURRENCY} managers at a time): "
            f"{sum(1 for j in self.invites if not j.error)}/{self.onboardings} in "
            f"{self.invite_seconds:.1f} s; ack p50 {ms(percentile(invite_acks, 0.5))}, "
            f"p99 {ms(percentile(invite_acks, 0.99))}",
            f"  onboardings, all at once: {len(self.completed_journeys)}/{self.onboardings} "
            f"completed in {self.wall_seconds:.1f} s = {self.throughput:.1f} onboardings/s; "
            f"each took p50 {percentile(durations, 0.5):.1f} s, "
            f"p99 {percentile(durations, 0.99):.1f} s",
            "    next screen after each step: "
            + ", ".join(
                f"{step} p50 {percentile(seconds, 0.5):.1f} s/p99 {percentile(seconds, 0.99):.1f} s"
                for step, seconds in step_seconds(self.completed_journeys).items()
            ),
            f"    ack p50 {ms(percentile(onboarding_acks, 0.5))}, "
            f"p99 {ms(percentile(onboarding_acks, 0.99))}, "
            f"max {ms(max(onboarding_acks, default=0))}",
            *(
                f"      {kind:<16} p50 {ms(percentile(seconds, 0.5))}, "
                f"p99 {ms(percentile(seconds, 0.99))}"
                for kind, seconds in by_kind(self.deliveries).items()
            ),
            f"  all requests: {len(acks)} ("
            + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
            + f"); {self.slow_acks} acks at or over {SLACK_ACK_LIMIT:.0f} s, "
            f"{self.failed_acks} not 2xx",
            f"  links: {checks.links} for {checks.completed} completed onboardings, "
            f"{checks.onboardings_with_more_links} onboardings with more than one; "
            f"{checks.clients_with_more_invites} channels with more than one invite",
            f"  status reports: {checks.reports} written, {checks.reports_sent} sent, "
            f"{checks.report_kinds['report.onboarding_completed']} of them completions; "
            f"{checks.duplicate_reports} duplicates in the outbox, "
            f"{checks.duplicate_status_posts} in the status channel",
            f"  serve RSS: {self.rss_before / 2**20:.0f} MiB after start, "
            f"{self.rss_after / 2**20:.0f} MiB after the run",
            f"  verdict: {'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}",
        ]
        failed = [j for j in self.invites + self.journeys if j.error]
        for journey in failed[:3]:
            lines.append(f"  e.g. #{journey.number}: {(journey.error or '')[:300]}")
        return lines


# An idle kept-alive connection is dropped by the client this soon, before `serve` closes it
# (bot.serving.KEEP_ALIVE_SECONDS, 5 s; httpx's default is the same 5 s).
CLIENT_KEEP_ALIVE_SECONDS = 2.0


def keep_every_connection(slack: DevSlack) -> None:
    """One connection per person in flight, none closed while others are in use: with httpx's
    default limits (100 connections, 20 kept alive) 200 threads on one client now and then read
    from a connection another thread just closed (`ReadError: Bad file descriptor`). And none
    reused once idle for long: a request sent on a connection the server is just closing for
    being idle its 5 s is reset (`ReadError: Connection reset by peer`)."""
    endpoint = slack.endpoint
    endpoint._http.close()  # noqa: SLF001 - the fake Slack's client, sized for 200 people
    endpoint._http = httpx.Client(  # noqa: SLF001
        timeout=endpoint.ack_timeout,
        limits=httpx.Limits(
            max_connections=None,
            max_keepalive_connections=None,
            keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS,
        ),
    )


def step_seconds(journeys: list[Journey]) -> dict[str, list[float]]:
    steps: dict[str, list[float]] = {}
    for journey in journeys:
        for step, seconds in journey.steps.items():
            steps.setdefault(step, []).append(seconds)
    return steps


def by_kind(deliveries: list[Delivery]) -> dict[str, list[float]]:
    """Ack times per kind of request; view submissions per modal (callback_id)."""
    kinds: dict[str, list[float]] = {}
    for delivery in deliveries:
        kind = delivery.kind
        if kind == "view_submission":
            kind = delivery.payload["view"]["callback_id"].removeprefix("onboarding_")
        kinds.setdefault(kind, []).append(delivery.seconds)
    return kinds


def run(
    onboardings: int = ONBOARDINGS,
    latency: float = LATENCY,
    database_url: str = DEFAULT_DATABASE_URL,
    workers: int = 1,
) -> LoadResult:
    database_url = fresh_database(database_url)
    numbers = range(1, onboardings + 1)
    with (
        sandbox_process(partial(load_accounts, onboardings), latency=latency) as nmbrs_url,
        run_devslack(load_workspace(onboardings), ack_timeout=DRIVER_ACK_TIMEOUT) as slack,
    ):
        environment = bot_environment(slack, database_url=database_url, nmbrs_base_url=nmbrs_url)
        with onboard_bot_serve(environment, workers=workers) as bot:
            slack.connect(bot.events_url)
            keep_every_connection(slack)
            rss_before = bot.rss_bytes()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=INVITE_CONCURRENCY) as pool:
                invites = list(pool.map(lambda n: invite(slack, n), numbers))
            invite_seconds = time.perf_counter() - started
            invite_deliveries = slack.deliveries
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=onboardings) as pool:
                journeys = list(pool.map(lambda n: onboard(slack, n), numbers))
            wall = time.perf_counter() - started
            checks = check_results(slack, database_url, onboardings)
            rss_after = bot.rss_bytes()
            deliveries = slack.deliveries[len(invite_deliveries) :]
    return LoadResult(
        onboardings,
        latency,
        invites,
        invite_seconds,
        journeys,
        wall,
        invite_deliveries,
        deliveries,
        checks,
        rss_before,
        rss_after,
        workers,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onboardings", type=int, default=ONBOARDINGS)
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds per Nmbrs call")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--workers", type=int, default=1, help="HTTP processes of the bot")
    arguments = parser.parse_args()
    if not 1 <= arguments.onboardings <= 1000:
        parser.error("--onboardings must be between 1 and 1000")
    if not 1 <= arguments.workers <= 16:
        parser.error("--workers must be between 1 and 16")
    print(f"Machine: {machine_summary()}; {load_average()}")
    result = run(
        arguments.onboardings, arguments.latency, arguments.database_url, arguments.workers
    )
    print("\n".join(result.lines()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
