"""The daily verification of every link (`LinkMaintenance.verify_all`, what `serve` runs at
LINK_VERIFY_TIME and `onboard-bot links verify --all` does) for 10, 100 and 1,000 SOAP links,
against the Nmbrs sandbox in a process of its own (LATENCY per call), on PostgreSQL.

Links are verified one after another; each verification is the credential check of its login
(22 calls, in three round trips), limited per Nmbrs account to Nmbrs' fair-use 150 calls a
second. Two cases: every client with a login of its own (the usual: the limit is per login, and
one verification's 22 calls stay within it), and every link under one login (an accountant's),
where the limit binds. The baseline is the 10-link run of the same case; the figures are also
extrapolated to Nmbrs' real latency (REAL_LATENCY) and to a day.

    .venv/bin/python -m benchmarks.verify [--links 10,100,1000]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.engine import make_url

from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    fresh_database,
    load_average,
    machine_summary,
    sandbox_process,
)
from bot.core.flow import State
from bot.core.payroll import NMBRS_SOAP
from bot.reports import LinkEventNotices
from bot.settings import Settings
from bot.usecases.maintenance import VERIFIED, LinkMaintenance
from bot.usecases.providers import Providers
from payroll.nmbrs_soap.model import REQUIRED_PERMISSIONS, Company
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.ratelimit import MAX_CALLS_PER_SECOND
from payroll.nmbrs_soap.sandbox import SandboxAccount, demo_companies
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine
from storage.models import Client, Onboarding
from storage.repository import SqlUnitOfWork

LINKS = (10, 100, 1_000)
# Every link under one login: the fair-use limit binds, so this case stops at 100 links.
SHARED_LOGIN_LINKS = (10, 100)
LATENCY = 0.02
REAL_LATENCY = 0.2  # about what a call to Nmbrs takes from Europe (benchmarks.credential_check)
ROUND_TRIPS = 3
CALLS = len(REQUIRED_PERMISSIONS)
DAY_SECONDS = 24 * 3600
TOKEN = "0123456789abcdef0123456789abcdef"
SHARED = "kantoor@voorbeeld.nl"
DATABASE = "onboarding_bench_verify"


def login(number: int) -> str:
    return f"klant{number:04d}@voorbeeld.nl"


def accounts(count: int) -> list[SandboxAccount]:
    """A login per client, and the accountant's login that sees them all."""
    return [
        *(SandboxAccount(login(n), TOKEN, "voorbeeld", demo_companies()) for n in range(count)),
        SandboxAccount(SHARED, TOKEN, "voorbeeld", demo_companies()),
    ]


def store_links(unit_of_work, count: int, *, shared: bool) -> None:
    """`count` clients whose onboarding completed with three of the demo companies linked."""
    chosen = [Company(id=c.id, number=c.number, name=c.name) for c in demo_companies()[:3]]
    for number in range(count):
        username = SHARED if shared else login(number)
        with unit_of_work() as uow:
            client = uow.clients.add(
                Client(
                    name=f"Klant {number:04d} B.V.",
                    workspace_id="T0CUSTOMER",
                    conversation_id=f"C0VERIFY{number:04d}",
                )
            )
            onboarding = uow.onboardings.add(
                Onboarding(client_id=client.id, state=State.COMPLETED.value, started_by="U0M")
            )
            uow.links.create(
                onboarding=onboarding,
                username=username,
                token=TOKEN,
                domain="voorbeeld",
                companies=chosen,
                provider=NMBRS_SOAP,
            )
            uow.commit()


@dataclass(frozen=True)
class Measured:
    links: int
    shared: bool
    seconds: float
    outcomes: Counter

    @property
    def per_link(self) -> float:
        return self.seconds / self.links

    @property
    def calls_per_second(self) -> float:
        return self.links * CALLS / self.seconds

    def at_real_latency(self, latency: float) -> float:
        """Seconds per link with Nmbrs' real latency: the round trips at that latency, plus
        what the run spent besides its own round trips (CPU, database), or the fair-use
        limit's pace where that is slower."""
        besides = max(0.0, self.per_link - ROUND_TRIPS * latency)
        per_link = ROUND_TRIPS * REAL_LATENCY + besides
        return max(per_link, CALLS / MAX_CALLS_PER_SECOND) if self.shared else per_link


def verify_once(database_url: str, nmbrs_url: str, count: int, *, shared: bool) -> Measured:
    url = fresh_database(make_url(database_url).set(database=DATABASE).render_as_string(False))
    engine = make_engine(url)
    cipher = TokenCipher([generate_key()])
    unit_of_work = partial(SqlUnitOfWork, engine, cipher)
    provider = SoapNmbrsProvider(nmbrs_url)
    try:
        store_links(unit_of_work, count, shared=shared)
        maintenance = LinkMaintenance(
            unit_of_work=unit_of_work,
            providers=Providers.only(provider),
            notices=LinkEventNotices(status_channel="C0STATUS", language="nl"),
            settings=Settings(_env_file=None),
        )
        started = time.perf_counter()
        results = maintenance.verify_all()
        seconds = time.perf_counter() - started
    finally:
        provider.close()
        engine.dispose()
    return Measured(count, shared, seconds, Counter(result.outcome for result in results))


@dataclass
class VerifyResult:
    latency: float
    runs: list[Measured]

    def lines(self) -> list[str]:
        lines = [
            f"Daily link verification (SOAP, {CALLS} calls a link in {ROUND_TRIPS} round trips, "
            f"one link after another), Nmbrs {self.latency * 1000:.0f} ms per call; "
            f"fair-use limit {MAX_CALLS_PER_SECOND} calls/s per login"
        ]
        for shared in (False, True):
            runs = [run for run in self.runs if run.shared is shared]
            if not runs:
                continue
            base = runs[0]
            lines.append(
                "  every link under one login (an accountant's)"
                if shared
                else "  a login per client (the usual)"
            )
            for run in runs:
                verified = run.outcomes.get(VERIFIED, 0)
                real = run.at_real_latency(self.latency)
                lines.append(
                    f"    {run.links:>5,} links: {run.seconds:6.1f} s, "
                    f"{run.per_link * 1000:6.1f} ms a link "
                    f"({run.per_link / base.per_link:4.2f}x the {base.links}-link baseline), "
                    f"{run.calls_per_second:5.0f} calls/s; {verified}/{run.links} "
                    f"verified; at {REAL_LATENCY * 1000:.0f} ms a call: "
                    f"{run.links * real / 60:5.1f} min, {DAY_SECONDS / real:,.0f} links a day"
                )
        lines.append(
            "  limit: a login per client: one link at a time, so the day itself "
            "(links a day above); one login for all: its fair-use "
            f"{MAX_CALLS_PER_SECOND} calls/s = {MAX_CALLS_PER_SECOND / CALLS:.1f} links/s"
        )
        return lines


def run(
    links: Sequence[int] = LINKS,
    shared_links: Sequence[int] = SHARED_LOGIN_LINKS,
    *,
    latency: float = LATENCY,
    database_url: str = DEFAULT_DATABASE_URL,
) -> VerifyResult:
    most = max([*links, *shared_links])
    runs = []
    with sandbox_process(partial(accounts, most), latency=latency) as nmbrs_url:
        for count in links:
            runs.append(verify_once(database_url, nmbrs_url, count, shared=False))
        for count in shared_links:
            runs.append(verify_once(database_url, nmbrs_url, count, shared=True))
    return VerifyResult(latency, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", default=",".join(str(n) for n in LINKS))
    parser.add_argument("--shared-links", default=",".join(str(n) for n in SHARED_LOGIN_LINKS))
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds per Nmbrs call")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    arguments = parser.parse_args()
    links = [int(n) for n in arguments.links.split(",") if n]
    shared = [int(n) for n in arguments.shared_links.split(",") if n]
    if not all(1 <= n <= 10_000 for n in [*links, *shared]):
        parser.error("--links and --shared-links must be between 1 and 10,000")
    print(f"Machine: {machine_summary()}; {load_average()}")
    result = run(links, shared, latency=arguments.latency, database_url=arguments.database_url)
    print("\n".join(result.lines()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
