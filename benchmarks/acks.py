"""Ack latency of our served bot beside a bare bolt app that only acks, in the same run, and the
company type-ahead over 5,000 companies.

Both apps are served alike (uvicorn, bot.transports.slack.http's Starlette app, one process
each) and get the same signed requests, 50 in flight at a time: `/onboard` (slash command), the
customer's Start button (block_actions), a modal submission (view_submission; the credentials
modal, which acks with a working view at once, and the terms modal, which answers with the next
screen in the ack when that is ready within FAST_ANSWER_SECONDS) and the company type-ahead
(block_suggestion, whose answer is the options). The requests are the ones the fake Slack's
people send (devslack), replayed with fresh trigger ids. Targets: our p99 at most 1.3 x the bare
app's; the type-ahead under 20 ms at p99, one request at a time through the served app, and
in-process.

    .venv/bin/python -m benchmarks.acks [--requests 1000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    VENV_BIN,
    ServedProcess,
    bot_environment,
    free_port,
    fresh_database,
    load_average,
    machine_summary,
    ms,
    onboard_bot_serve,
    percentile,
    sandbox_process,
    served,
)
from benchmarks.load import (
    INVITE_CONCURRENCY,
    channel_id,
    customer_id,
    invite,
    invite_in,
    load_accounts,
    load_workspace,
    log_in,
    manager_id,
    nmbrs_token,
    nmbrs_username,
    settled,
    to_credentials,
)
from benchmarks.memory import descendants
from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANY_SEARCH,
    ACTION_PACKAGE,
    ACTION_TERMS,
    CALLBACK_CREDENTIALS,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from bot.usecases.company_search import PackedCompanies
from devslack import Delivery, DevSlack, run_devslack
from devslack.driver import BotEndpoint, DeliveryFailed
from payroll.nmbrs_soap.sandbox import SandboxAccount, many_companies

LATENCY = 0.05
CONCURRENCY = 50
REQUESTS = 1000
TARGET_RATIO = 1.3
TYPEAHEAD_TARGET = 0.020
TYPEAHEAD_REQUESTS = 300
# What a customer types into the company search (Dutch business names such as "Bakkerij Jansen
# Amsterdam B.V.", numbered 1 to 5000).
QUERIES = (
    "bakkerij jansen",
    "jansen zwolle",
    "4999",
    "b.v.",
    "bakkerij",
    "0815",
    "nothing like it",
)
DRIVER_ACK_TIMEOUT = 10.0
# People are brought to their starting point this many at a time (not measured).
PREPARE_CONCURRENCY = 10
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Memory is read this long after the last request: what each process holds, not what it used.
SETTLE_SECONDS = 10.0


def ack_accounts(concurrency: int) -> list[SandboxAccount]:
    """A Nmbrs login per customer; the type-ahead's customers see 5,000 companies."""
    accounts = load_accounts(GROUPS * concurrency)
    companies = many_companies()
    for number in group(SEARCHERS, concurrency):
        accounts[number - 1].companies = companies
    return accounts


# The fake Slack's people, in groups of `concurrency`: who sends which kind of request.
MANAGERS, CLICKERS, TERMS, CREDENTIALS, SEARCHERS = range(5)
GROUPS = 5


def group(index: int, concurrency: int) -> range:
    return range(index * concurrency + 1, (index + 1) * concurrency + 1)


@dataclass
class Request:
    """One captured request of the fake Slack, to replay with a fresh trigger id."""

    kind: str
    user: str
    body: bytes
    content_type: str

    def fresh(self, slack: DevSlack) -> bytes:
        if self.kind == "slash_command":
            fields = {key: values[0] for key, values in parse_qs(self.body.decode()).items()}
            fields["trigger_id"] = slack.world.issue_trigger(self.user)
            return urlencode(fields).encode()
        payload = json.loads(parse_qs(self.body.decode())["payload"][0])
        if "trigger_id" in payload:
            payload["trigger_id"] = slack.world.issue_trigger(self.user)
        return urlencode({"payload": json.dumps(payload)}).encode()

    def typing(self, query: str) -> Request:
        """The same block_suggestion for another query."""
        payload = json.loads(parse_qs(self.body.decode())["payload"][0])
        payload["value"] = query
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return Request(self.kind, self.user, body, self.content_type)


def captured(delivery: Delivery, user: str) -> Request:
    return Request(delivery.kind, user, delivery.body, delivery.content_type)


@dataclass
class Kind:
    """A kind of request: one captured request per concurrent worker."""

    name: str
    requests: list[Request]
    # Applied after our app's ack (what Slack's client does with it), outside the timing.
    after_ack: Callable[[Request, Delivery], None] | None = None


def apply_submission(slack: DevSlack, request: Request, delivery: Delivery) -> None:
    """Slack shows the ack's response_action, so the follow-up views.update finds its view."""
    view_id = json.loads(parse_qs(request.body.decode())["payload"][0])["view"]["id"]
    slack.world.apply_submission(request.user, view_id, delivery.response or {})


@dataclass
class Measured:
    seconds: list[float]
    # Not acknowledged with a 2xx in time (bolt answers 404 when a listener did not ack in 3 s).
    failed: int


def measure(slack: DevSlack, url: str, kind: Kind, total: int, *, apply: bool) -> Measured:
    """`total` requests to the app at `url`, len(kind.requests) in flight at a time (each worker
    with a connection of its own); the ack times, failed ones included."""
    rounds = max(1, total // len(kind.requests))

    def worker(request: Request) -> Measured:
        endpoint = BotEndpoint(url, slack.signing_secret, DRIVER_ACK_TIMEOUT)
        measured = Measured([], 0)
        try:
            for _ in range(rounds):
                body = request.fresh(slack)
                try:
                    delivery = endpoint.send(request.kind, body, request.content_type)
                except DeliveryFailed as failure:
                    measured.failed += 1
                    if failure.delivery is not None:
                        measured.seconds.append(failure.delivery.seconds)
                    continue
                measured.seconds.append(delivery.seconds)
                if apply and kind.after_ack:
                    kind.after_ack(request, delivery)
        finally:
            endpoint.close()
        return measured

    with ThreadPoolExecutor(max_workers=len(kind.requests)) as pool:
        parts = list(pool.map(worker, kind.requests))
    return Measured([s for part in parts for s in part.seconds], sum(p.failed for p in parts))


@dataclass
class KindResult:
    name: str
    ours: Measured
    bare: Measured

    @property
    def ratio(self) -> float:
        return percentile(self.ours.seconds, 0.99) / max(percentile(self.bare.seconds, 0.99), 1e-9)

    def line(self) -> str:
        verdict = "meets" if self.ratio <= TARGET_RATIO else "misses"
        ours, bare = self.ours.seconds, self.bare.seconds
        failed = (
            f"; not acked: ours {self.ours.failed}, bare {self.bare.failed}"
            if self.ours.failed or self.bare.failed
            else ""
        )
        return (
            f"  {self.name:<38} ours p50 {ms(percentile(ours, 0.5))} "
            f"p99 {ms(percentile(ours, 0.99))} | bare p50 {ms(percentile(bare, 0.5))} "
            f"p99 {ms(percentile(bare, 0.99))} | p99 ratio {self.ratio:4.2f} "
            f"({verdict} <= {TARGET_RATIO}){failed}"
        )


@dataclass
class TypeaheadResult:
    served: list[float]
    bare: list[float]
    in_process: list[float]
    options_returned: int

    def lines(self) -> list[str]:
        def verdict(values: list[float]) -> str:
            met = percentile(values, 0.99) < TYPEAHEAD_TARGET
            return f"{'meets' if met else 'misses'} < {TYPEAHEAD_TARGET * 1000:.0f} ms"

        return [
            "Type-ahead over 5,000 companies (target p99 < 20 ms)",
            f"  served (block_suggestion, one at a time): p50 {ms(percentile(self.served, 0.5))}, "
            f"p99 {ms(percentile(self.served, 0.99))} ({verdict(self.served)}; "
            f"{len(self.served)} requests, up to {self.options_returned} options each)",
            f"  the bare app's empty answer, one at a time: p50 {ms(percentile(self.bare, 0.5))}, "
            f"p99 {ms(percentile(self.bare, 0.99))} (floor: bolt polls for the ack every 10 ms)",
            f"  in-process search of a kept list:         p50 "
            f"{ms(percentile(self.in_process, 0.5))}, p99 {ms(percentile(self.in_process, 0.99))} "
            f"({verdict(self.in_process)})",
        ]


@dataclass
class AckResult:
    concurrency: int
    kinds: list[KindResult]
    typeahead: TypeaheadResult
    rss_ours: int
    rss_bare: int

    def lines(self) -> list[str]:
        return [
            f"Ack latency, {self.concurrency} requests in flight, ours beside a bare bolt app "
            "that only acks (same serving, same run)",
            *(kind.line() for kind in self.kinds),
            f"  RSS {SETTLE_SECONDS:.0f} s after the run: ours {self.rss_ours / 2**20:.0f} MiB, "
            f"bare {self.rss_bare / 2**20:.0f} MiB",
            *self.typeahead.lines(),
        ]


def invite_all(slack: DevSlack, numbers: list[int]) -> None:
    with ThreadPoolExecutor(max_workers=INVITE_CONCURRENCY) as pool:
        failed = [journey for journey in pool.map(partial(invite, slack), numbers) if journey.error]
    if failed:
        raise RuntimeError(f"could not prepare the invites: {failed[0].error}")


def capture_slash_command(slack: DevSlack, number: int) -> Request:
    delivery = slack.user(manager_id(number)).command("/onboard", channel=channel_id(number))
    return captured(delivery, manager_id(number))


def capture_start_click(slack: DevSlack, number: int) -> Request:
    customer = slack.user(customer_id(number))
    message = invite_in(customer, channel_id(number))
    delivery = customer.click(message, ACTION_START)
    settled(customer, CALLBACK_TERMS)
    assert delivery is not None
    return captured(delivery, customer.id)


def capture_terms_submission(slack: DevSlack, number: int) -> Request:
    customer = slack.user(customer_id(number))
    capture_start_click(slack, number)
    terms = settled(customer, CALLBACK_TERMS)
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    delivery = customer.submit(terms)
    assert delivery is not None
    return captured(delivery, customer.id)


def capture_credentials_submission(slack: DevSlack, number: int) -> Request:
    customer = slack.user(customer_id(number))
    credentials = to_credentials(customer, channel_id(number))
    assert credentials.callback_id == CALLBACK_CREDENTIALS
    log_in(customer, credentials, nmbrs_username(number), nmbrs_token(number))
    submitted = [
        d
        for d in slack.deliveries
        if d.kind == "view_submission"
        and d.payload["user"]["id"] == customer.id
        and d.payload["view"]["callback_id"] == CALLBACK_CREDENTIALS
    ]
    return captured(submitted[-1], customer.id)


def capture_company_search(slack: DevSlack, number: int) -> Request:
    customer = slack.user(customer_id(number))
    credentials = to_credentials(customer, channel_id(number))
    companies = log_in(customer, credentials, nmbrs_username(number), nmbrs_token(number))
    customer.suggest(companies, ACTION_COMPANY_SEARCH, QUERIES[0])
    searched = [
        d
        for d in slack.deliveries
        if d.kind == "block_suggestion" and d.payload["user"]["id"] == customer.id
    ]
    return captured(searched[-1], customer.id)


def prepare(slack: DevSlack, concurrency: int) -> list[Kind]:
    """Bring the fake Slack's people to where each kind of request starts, through our served
    bot, and capture one request of each kind per person."""
    invite_all(
        slack, [n for g in (CLICKERS, TERMS, CREDENTIALS, SEARCHERS) for n in group(g, concurrency)]
    )

    def capture(function: Callable[[DevSlack, int], Request], index: int) -> list[Request]:
        with ThreadPoolExecutor(max_workers=PREPARE_CONCURRENCY) as pool:
            return list(pool.map(partial(function, slack), group(index, concurrency)))

    applied = partial(apply_submission, slack)
    return [
        Kind("slash command (/onboard)", capture(capture_slash_command, MANAGERS)),
        Kind("button (Start)", capture(capture_start_click, CLICKERS)),
        Kind(
            "view submission (credentials)",
            capture(capture_credentials_submission, CREDENTIALS),
            applied,
        ),
        Kind(
            "view submission (terms)",
            capture(capture_terms_submission, TERMS),
            applied,
        ),
        Kind("options (type-ahead, 5,000)", capture(capture_company_search, SEARCHERS)),
    ]


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and of the processes below it (serve's use-case process)."""
    total = 0.0
    for member in descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_until_idle(pid: int, timeout: float = 30.0) -> None:
    """Until the process and its use-case process have finished the work their acks left
    behind (under 5% CPU for 0.5 s), so it does not steal the next measurement's CPU."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.025:
            return


def measure_typeahead(ours: BotEndpoint, bare: BotEndpoint, search: Request) -> TypeaheadResult:
    """One request at a time, the queries in turn, to our app and to the bare one; then the
    search function alone."""
    variants = [search.typing(query) for query in QUERIES]
    served_seconds, bare_seconds, returned = [], [], 0
    for index in range(TYPEAHEAD_REQUESTS):
        request = variants[index % len(variants)]
        delivery = ours.send(request.kind, request.body, request.content_type)
        served_seconds.append(delivery.seconds)
        returned = max(returned, len((delivery.response or {}).get("options", [])))
        bare_seconds.append(bare.send(request.kind, request.body, request.content_type).seconds)
    # A keystroke's search on the list kept for the onboarding, as the served bot does it.
    kept = PackedCompanies((c.id, c.number, c.name) for c in many_companies())
    in_process = []
    for index in range(TYPEAHEAD_REQUESTS):
        query = QUERIES[index % len(QUERIES)]
        started = time.perf_counter()
        kept.search(query)
        in_process.append(time.perf_counter() - started)
    return TypeaheadResult(served_seconds, bare_seconds, in_process, returned)


def bare_bolt(slack: DevSlack) -> AbstractContextManager[ServedProcess]:
    """The bare bolt app that only acks, served beside ours for the same requests."""
    port = free_port()
    command = [
        str(VENV_BIN / "python"),
        "-m",
        "benchmarks.bare_bolt",
        f"--port={port}",
        f"--signing-secret={slack.signing_secret}",
        f"--token={slack.bot_token}",
        f"--slack-api-url={slack.api_url}",
    ]
    return served("bare-bolt", command, {"PORT": str(port), "PYTHONPATH": str(PROJECT_ROOT)})


def run(
    requests: int = REQUESTS,
    concurrency: int = CONCURRENCY,
    database_url: str = DEFAULT_DATABASE_URL,
) -> AckResult:
    database_url = fresh_database(database_url)
    with (
        sandbox_process(partial(ack_accounts, concurrency), latency=LATENCY) as nmbrs_url,
        run_devslack(load_workspace(GROUPS * concurrency), ack_timeout=DRIVER_ACK_TIMEOUT) as slack,
    ):
        environment = bot_environment(slack, database_url=database_url, nmbrs_base_url=nmbrs_url)
        with onboard_bot_serve(environment) as ours, bare_bolt(slack) as bare:
            slack.connect(ours.events_url)
            kinds = prepare(slack, concurrency)
            results = []
            for kind in kinds:
                wait_until_idle(ours.process.pid)
                measure(slack, bare.events_url, kind, concurrency, apply=False)  # warm-up
                bare_measured = measure(slack, bare.events_url, kind, requests, apply=False)
                wait_until_idle(bare.process.pid)
                ours_measured = measure(slack, ours.events_url, kind, requests, apply=True)
                results.append(KindResult(kind.name, ours_measured, bare_measured))
            wait_until_idle(ours.process.pid)
            endpoints = [
                BotEndpoint(app.events_url, slack.signing_secret, DRIVER_ACK_TIMEOUT)
                for app in (ours, bare)
            ]
            typeahead = measure_typeahead(*endpoints, kinds[-1].requests[0])
            for endpoint in endpoints:
                endpoint.close()
            time.sleep(SETTLE_SECONDS)
            rss_ours, rss_bare = ours.rss_bytes(), bare.rss_bytes()
    return AckResult(concurrency, results, typeahead, rss_ours, rss_bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=REQUESTS, help="per kind and app")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    arguments = parser.parse_args()
    if not 1 <= arguments.concurrency <= 200 or not 1 <= arguments.requests <= 20000:
        parser.error("--concurrency must be 1..200 and --requests 1..20000")
    print(f"Machine: {machine_summary()}; {load_average()}")
    result = run(arguments.requests, arguments.concurrency, arguments.database_url)
    print("\n".join(result.lines()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
