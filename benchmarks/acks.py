"""Ack latency of our served bot beside a bare bolt app that only acks, in the same run, and the
company type-ahead over 5,000 companies, over a matrix of configurations: each number of
requests in flight (10 and 50), each database (a fresh SQLite file, a fresh PostgreSQL
database) and each Nmbrs provider (REST, serve's default, and SOAP). Every configuration is a run
of its own (fresh database, fake Slack, fake Nmbrs, our bot and the bare app), printed as it ends;
a table of every configuration's p99 ratios closes the output.

Both apps are served alike (uvicorn, bot.transports.slack.http's Starlette app, one process
each) and get the same signed requests, N in flight at a time: `/onboard` (slash command), the
customer's Start button (block_actions), the terms submission (view_submission, which answers
with the next screen in the ack when that is ready within FAST_ANSWER_SECONDS), the company
type-ahead (block_suggestion, whose answer is the options) and the step that links Nmbrs:

- SOAP: the credentials submission (view_submission; acks with a working view at once, the
  check runs after).
- REST: there is no credentials modal; the customer consents at Nmbrs in the browser. Measured
  is the consent's return to the bot: the browser's GET of our /nmbrs/callback (the code
  exchanged, the connect check, the modal redrawn, then a small HTML page), beside the bare
  app's fixed page on the same path. A state works once, so every request is a customer of its
  own, brought to the consent screen and through the fake Nmbrs' login and approval beforehand
  (a stand-in for their browser, unmeasured); the bare app gets the same URLs.

The Slack requests are the ones the fake Slack's people send (devslack), replayed with fresh
trigger ids. Under REST the 5,000 companies of the type-ahead come from the fake Nmbrs REST API
(payroll.nmbrs_rest.sandbox), reached by consent; under SOAP from the SOAP sandbox. Nmbrs
answers in LATENCY (50 ms) per call. Targets: our p99 at most 1.3 x the bare app's; the
type-ahead under 20 ms at p99, one request at a time through the served app, and in-process.

    .venv/bin/python -m benchmarks.acks [--requests 1000] [--in-flight 10 50] \\
        [--database sqlite postgres] [--provider rest soap] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from benchmarks.harness import (
    DEFAULT_DATABASE_URL,
    VENV_BIN,
    ServedProcess,
    bot_environment,
    free_port,
    fresh_database,
    fresh_sqlite_database,
    load_average,
    machine_summary,
    ms,
    onboard_bot_serve,
    percentile,
    rest_environment,
    rest_sandbox_process,
    sandbox_process,
    served,
)
from benchmarks.load import (
    INVITE_CONCURRENCY,
    channel_id,
    client_name,
    customer_id,
    invite,
    invite_in,
    keep_every_connection,
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
from bot.settings import NMBRS_CALLBACK_PATH
from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.onboarding import (
    ACTION_COMPANY_SEARCH,
    ACTION_CONSENT_LOGIN,
    ACTION_PACKAGE,
    ACTION_TERMS,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_INFO,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from bot.usecases.company_search import PackedCompanies
from devslack import Delivery, DevSlack, SlackUser, View, run_devslack
from devslack.driver import BotEndpoint, DeliveryFailed
from payroll.nmbrs_rest import sandbox as rest_sandbox
from payroll.nmbrs_soap.sandbox import SandboxAccount, many_companies

LATENCY = 0.05
CONCURRENCY = 50
REQUESTS = 1000
# The matrix: requests in flight, databases, Nmbrs providers (REST is serve's default).
IN_FLIGHT = (10, 50)
SQLITE, POSTGRES = "sqlite", "postgres"
DATABASES = (SQLITE, POSTGRES)
REST, SOAP = "rest", "soap"
PROVIDERS = (REST, SOAP)
# Under REST every consent return measured is a customer of its own, prepared beforehand.
MAX_REST_REQUESTS = 3000
# No SOAP link is made under REST; the SOAP provider (lazy) is given an address nobody serves.
UNUSED_SOAP_URL = "http://127.0.0.1:9"
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


def rest_ack_logins(concurrency: int, people: int) -> list[rest_sandbox.SandboxLogin]:
    """The fake Nmbrs REST API's klant logins: one per customer, under a debtor of its own with
    the five demo companies; the type-ahead's customers see 5,000."""
    companies = rest_sandbox.demo_companies()
    many = rest_sandbox.many_companies(rest_sandbox.MANY_COMPANIES)
    searchers = set(group(SEARCHERS, concurrency))
    return [
        rest_sandbox.SandboxLogin(
            nmbrs_username(n),
            f"Klant {n}",
            "a customer of the ack benchmark",
            [
                rest_sandbox.debtor(
                    f"9{n:05d}", client_name(n), many if n in searchers else companies
                )
            ],
        )
        for n in range(1, people + 1)
    ]


# The fake Slack's people, in groups of `concurrency`: who sends which kind of request.
MANAGERS, CLICKERS, TERMS, CREDENTIALS, SEARCHERS = range(5)
GROUPS = 5


def group(index: int, concurrency: int) -> range:
    return range(index * concurrency + 1, (index + 1) * concurrency + 1)


def people_count(provider: str, concurrency: int, rounds: int) -> int:
    """How many people the run's workspace and fake Nmbrs need: GROUPS of `concurrency`, and
    under REST a customer more for each further consent return measured."""
    return GROUPS * concurrency + (rounds - 1) * concurrency * (provider == REST)


def consent_customers(concurrency: int, rounds: int) -> list[int]:
    """The customers whose consent returns are measured under REST, `concurrency` a round: the
    CREDENTIALS group, then the people after the GROUPS."""
    extra = range(GROUPS * concurrency + 1, GROUPS * concurrency + (rounds - 1) * concurrency + 1)
    return [*group(CREDENTIALS, concurrency), *extra]


@dataclass(frozen=True)
class Config:
    """One configuration of the matrix: a run of its own."""

    database: str  # SQLITE or POSTGRES
    provider: str  # REST or SOAP
    in_flight: int

    @property
    def name(self) -> str:
        return f"{self.database} {self.provider.upper()} {self.in_flight} in flight"


def configurations(
    in_flight: Sequence[int] = IN_FLIGHT,
    databases: Sequence[str] = DATABASES,
    providers: Sequence[str] = PROVIDERS,
) -> list[Config]:
    """Every combination, each once, by database, then provider, then requests in flight."""
    unique = lambda values: list(dict.fromkeys(values))  # noqa: E731 - in the given order
    return [
        Config(database, provider, count)
        for database in unique(databases)
        for provider in unique(providers)
        for count in unique(in_flight)
    ]


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


@dataclass
class ConsentReturn:
    """The browser's return from the consent at Nmbrs to our bot (GET /nmbrs/callback). A
    callback's state works once: every request is a customer of its own at the consent screen,
    `consents[w][r]` worker w's customer of round r (their consent link and Nmbrs login)."""

    name: str
    consents: list[list[tuple[str, str]]]

    def approve_all(self) -> list[list[str]]:
        """Each customer's browser through Nmbrs' login and approval (not measured): the
        callback paths (with their query) Nmbrs sends the browsers back to, per worker."""

        def approve(consent: tuple[str, str]) -> str:
            link, login = consent
            with Browser() as browser:
                parts = urlsplit(browser.consent(link, login))
            return f"{parts.path}?{parts.query}"

        flat = [consent for own in self.consents for consent in own]
        with ThreadPoolExecutor(max_workers=PREPARE_CONCURRENCY) as pool:
            paths = iter(list(pool.map(approve, flat)))
        return [[next(paths) for _ in own] for own in self.consents]


def apply_submission(slack: DevSlack, request: Request, delivery: Delivery) -> None:
    """Slack shows the ack's response_action, so the follow-up views.update finds its view."""
    view_id = json.loads(parse_qs(request.body.decode())["payload"][0])["view"]["id"]
    slack.world.apply_submission(request.user, view_id, delivery.response or {})


@dataclass
class Measured:
    seconds: list[float]
    # Not acknowledged with a 2xx in time (bolt answers 404 when a listener did not ack in 3 s);
    # for the consent return: not answered 200 in time.
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


def measure_pages(base_url: str, paths: list[list[str]]) -> Measured:
    """The browsers' GETs of `paths` at the app at `base_url`, one worker (a browser with a
    connection of its own) per list, all workers at once; the time until the whole page is in."""

    def worker(own: list[str]) -> Measured:
        measured = Measured([], 0)
        with httpx.Client(
            base_url=base_url, timeout=DRIVER_ACK_TIMEOUT, trust_env=False, follow_redirects=False
        ) as browser:
            for path in own:
                started = time.perf_counter()
                try:
                    status = browser.get(path).status_code
                except httpx.TimeoutException:
                    status = 0
                measured.seconds.append(time.perf_counter() - started)
                measured.failed += status != 200
        return measured

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        parts = list(pool.map(worker, paths))
    return Measured([s for part in parts for s in part.seconds], sum(p.failed for p in parts))


@dataclass
class KindResult:
    name: str
    ours: Measured
    bare: Measured

    @property
    def ratio(self) -> float:
        return percentile(self.ours.seconds, 0.99) / max(percentile(self.bare.seconds, 0.99), 1e-9)

    @property
    def met(self) -> bool:
        return self.ratio <= TARGET_RATIO

    def line(self) -> str:
        verdict = "meets" if self.met else "misses"
        ours, bare = self.ours.seconds, self.bare.seconds
        failed = (
            f"; not answered in time: ours {self.ours.failed}, bare {self.bare.failed}"
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
    config: Config | None = None
    # The machine's load average when the run started and when it ended.
    load_before: str = ""
    load_after: str = ""
    seconds: float = 0.0

    @property
    def title(self) -> str:
        return self.config.name if self.config else f"{self.concurrency} in flight"

    def lines(self) -> list[str]:
        where = (
            f"{self.config.database}, Nmbrs {self.config.provider.upper()}, " if self.config else ""
        )
        return [
            f"Ack latency, {where}{self.concurrency} requests in flight, ours beside a bare bolt "
            "app that only acks (same serving, same run)",
            *(kind.line() for kind in self.kinds),
            f"  RSS {SETTLE_SECONDS:.0f} s after the run: ours {self.rss_ours / 2**20:.0f} MiB, "
            f"bare {self.rss_bare / 2**20:.0f} MiB",
            *self.typeahead.lines(),
            f"  ({self.seconds:.0f} s; at the start {self.load_before}; at the end "
            f"{self.load_after})",
        ]


# The summary's columns: the five kinds, in the order prepare() gives them.
COLUMNS = ("/onboard", "Start", "creds|consent", "terms", "type-ahead")


@dataclass
class MatrixResult:
    results: list[AckResult] = field(default_factory=list)
    # Configurations that could not be measured, with why (the others still are).
    failed: list[tuple[Config, str]] = field(default_factory=list)

    def table(self) -> list[str]:
        """Config x kind: our p99 over the bare app's, met or missed; the third column is the
        credentials submission under SOAP and the consent's return to the bot under REST."""
        titles = [r.title for r in self.results] + [c.name for c, _ in self.failed]
        width = max([len(title) for title in titles] + [len("configuration")])
        header = f"  {'configuration':<{width}}  " + "  ".join(f"{c:>13}" for c in COLUMNS)
        lines = [
            f"Ack p99, ours / bare (target <= {TARGET_RATIO}); creds|consent: the credentials "
            "submission (SOAP), the consent's return to the bot (REST)",
            header + f"  {'type-ahead 1 by 1':>17}  load at the end (1 min)",
        ]
        met = total = 0
        for result in self.results:
            cells = []
            for kind in result.kinds:
                cells.append(f"{kind.ratio:6.2f} {'met' if kind.met else 'MISSED':>6}")
                met += kind.met
                total += 1
            served = percentile(result.typeahead.served, 0.99)
            served_cell = (
                f"{served * 1000:5.1f} ms {'met' if served < TYPEAHEAD_TARGET else 'MISSED':>6}"
            )
            load = result.load_after.split()[2] if result.load_after else "?"
            lines.append(
                f"  {result.title:<{width}}  "
                + "  ".join(f"{c:>13}" for c in cells)
                + f"  {served_cell:>17}  {load}"
            )
        for config, error in self.failed:
            lines.append(f"  {config.name:<{width}}  not measured: {error[:150]}")
        lines.append(f"  {met} of {total} (configuration, kind) met the target")
        return lines


class Browser:
    """A stand-in for the customer's browser: follows the consent link from the modal to the
    bot's /nmbrs/start and on to Nmbrs' login page, picks the login, approves, and stops at
    the redirect back to the bot (what happens there is the caller's to time)."""

    FORM = re.compile(r'<form method="post" action="([^"]+)">')
    REQUEST = re.compile(r'name="request" value="([^"]+)"')

    def __init__(self) -> None:
        self._http = httpx.Client(timeout=DRIVER_ACK_TIMEOUT, trust_env=False)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def open(self, url: str) -> httpx.Response:
        return self._http.get(url, follow_redirects=True)

    def _post_form(self, page: httpx.Response, **fields: str) -> httpx.Response:
        action, request = self.FORM.search(page.text), self.REQUEST.search(page.text)
        if page.status_code != 200 or action is None or request is None:
            raise RuntimeError(f"{page.url} answered {page.status_code} without its form")
        return self._http.post(
            urljoin(str(page.url), action[1]), data={"request": request[1], **fields}
        )

    def consent(self, link: str, login: str) -> str:
        """Approve at Nmbrs as `login`; the URL (our callback) Nmbrs sends the browser to."""
        login_page = self.open(link)
        consent_page = self._post_form(login_page, login=login)
        decided = self._post_form(consent_page, login=login, decision="approve")
        if decided.status_code != 302:
            raise RuntimeError(f"the consent page answered {decided.status_code}")
        return decided.headers["location"]


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


def search_request(slack: DevSlack, customer: SlackUser, companies: View) -> Request:
    customer.suggest(companies, ACTION_COMPANY_SEARCH, QUERIES[0])
    searched = [
        d
        for d in slack.deliveries
        if d.kind == "block_suggestion" and d.payload["user"]["id"] == customer.id
    ]
    return captured(searched[-1], customer.id)


def capture_company_search(slack: DevSlack, number: int) -> Request:
    customer = slack.user(customer_id(number))
    credentials = to_credentials(customer, channel_id(number))
    companies = log_in(customer, credentials, nmbrs_username(number), nmbrs_token(number))
    return search_request(slack, customer, companies)


def to_consent(customer: SlackUser, channel: str) -> View:
    """Under REST: Start on the invite, accept the terms, read the preparation: the consent
    screen with its login button."""
    customer.click(invite_in(customer, channel), ACTION_START)
    terms = settled(customer, CALLBACK_TERMS)
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    customer.submit(terms)
    customer.submit(settled(customer, CALLBACK_PREPARATION))
    return settled(customer, CALLBACK_INFO)


def consent_link(view: View) -> str:
    """The URL of the consent screen's login button (our /nmbrs/start with its token)."""
    for block in view.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == ACTION_CONSENT_LOGIN:
                return str(element["url"])
    raise RuntimeError(f"the modal {view.callback_id} has no consent login button")


def capture_consent(slack: DevSlack, number: int) -> tuple[str, str]:
    customer = slack.user(customer_id(number))
    return consent_link(to_consent(customer, channel_id(number))), nmbrs_username(number)


def capture_company_search_by_consent(slack: DevSlack, number: int) -> Request:
    """Under REST: consent in the browser (the 5,000 companies come from the fake REST API);
    the search on the companies screen the modal then shows."""
    customer = slack.user(customer_id(number))
    link = consent_link(to_consent(customer, channel_id(number)))
    with Browser() as browser:
        page = browser.open(browser.consent(link, nmbrs_username(number)))
    if page.status_code != 200:
        raise RuntimeError(f"the consent's return answered {page.status_code}")
    return search_request(slack, customer, settled(customer, CALLBACK_COMPANIES))


def prepare(
    slack: DevSlack, concurrency: int, *, provider: str = SOAP, rounds: int = 1
) -> list[Kind | ConsentReturn]:
    """Bring the fake Slack's people to where each kind of request starts, through our served
    bot, and capture one request of each kind per person (under REST: `rounds` customers per
    worker at the consent screen, for the consent returns). The type-ahead's is last."""
    consenters = consent_customers(concurrency, rounds) if provider == REST else []
    starters = [*group(CLICKERS, concurrency), *group(TERMS, concurrency)]
    if provider == REST:
        invite_all(slack, [*starters, *consenters, *group(SEARCHERS, concurrency)])
    else:
        invite_all(
            slack, [*starters, *group(CREDENTIALS, concurrency), *group(SEARCHERS, concurrency)]
        )

    def capture(function: Callable[[DevSlack, int], Request], numbers: Sequence[int]) -> list:
        with ThreadPoolExecutor(max_workers=PREPARE_CONCURRENCY) as pool:
            return list(pool.map(partial(function, slack), numbers))

    applied = partial(apply_submission, slack)
    slash = Kind(
        "slash command (/onboard)", capture(capture_slash_command, group(MANAGERS, concurrency))
    )
    start = Kind("button (Start)", capture(capture_start_click, group(CLICKERS, concurrency)))
    linking: Kind | ConsentReturn
    if provider == REST:
        consents = capture(capture_consent, consenters)
        linking = ConsentReturn(
            "consent return (GET /nmbrs/callback)",
            [consents[worker::concurrency] for worker in range(concurrency)],
        )
        search = capture_company_search_by_consent
    else:
        linking = Kind(
            "view submission (credentials)",
            capture(capture_credentials_submission, group(CREDENTIALS, concurrency)),
            applied,
        )
        search = capture_company_search
    terms = Kind(
        "view submission (terms)",
        capture(capture_terms_submission, group(TERMS, concurrency)),
        applied,
    )
    options = Kind("options (type-ahead, 5,000)", capture(search, group(SEARCHERS, concurrency)))
    return [slash, start, linking, terms, options]


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


def measure_kind(
    slack: DevSlack,
    ours: ServedProcess,
    bare: ServedProcess,
    kind: Kind | ConsentReturn,
    requests: int,
    concurrency: int,
) -> KindResult:
    """The bare app first (after a warm-up round), then ours, each once the other is idle."""
    wait_until_idle(ours.process.pid)
    if isinstance(kind, ConsentReturn):
        paths = kind.approve_all()
        wait_until_idle(ours.process.pid)
        measure_pages(bare.url, [own[:1] for own in paths])  # warm-up
        bare_measured = measure_pages(bare.url, paths)
        wait_until_idle(bare.process.pid)
        ours_measured = measure_pages(ours.url, paths)
    else:
        measure(slack, bare.events_url, kind, concurrency, apply=False)  # warm-up
        bare_measured = measure(slack, bare.events_url, kind, requests, apply=False)
        wait_until_idle(bare.process.pid)
        ours_measured = measure(slack, ours.events_url, kind, requests, apply=True)
    return KindResult(kind.name, ours_measured, bare_measured)


def run(
    requests: int = REQUESTS,
    concurrency: int = CONCURRENCY,
    database_url: str = DEFAULT_DATABASE_URL,
    *,
    provider: str = REST,
    database: str = POSTGRES,
) -> AckResult:
    """One configuration: `provider`'s bot on `database` (POSTGRES: a fresh database at
    `database_url`; SQLITE: a fresh file in a temporary directory), `concurrency` in flight."""
    config = Config(database, provider, concurrency)
    load_before, started = load_average(), time.perf_counter()
    rounds = max(1, requests // concurrency)
    people = people_count(provider, concurrency, rounds)
    with ExitStack() as stack:
        if database == SQLITE:
            url = stack.enter_context(fresh_sqlite_database())
        else:
            url = fresh_database(database_url)
        port, extra = None, {}
        if provider == REST:
            port = free_port()
            public_url = f"http://127.0.0.1:{port}"
            rest_url = stack.enter_context(
                rest_sandbox_process(
                    partial(rest_ack_logins, concurrency, people),
                    redirect_uris=[public_url + NMBRS_CALLBACK_PATH],
                    latency=LATENCY,
                )
            )
            extra = rest_environment(public_url=public_url, nmbrs_rest_url=rest_url)
            nmbrs_url = UNUSED_SOAP_URL
        else:
            nmbrs_url = stack.enter_context(
                sandbox_process(partial(ack_accounts, concurrency), latency=LATENCY)
            )
        slack = stack.enter_context(
            run_devslack(load_workspace(people), ack_timeout=DRIVER_ACK_TIMEOUT)
        )
        environment = bot_environment(slack, database_url=url, nmbrs_base_url=nmbrs_url, **extra)
        ours = stack.enter_context(onboard_bot_serve(environment, port=port))
        bare = stack.enter_context(bare_bolt(slack))
        slack.connect(ours.events_url)
        keep_every_connection(slack)
        kinds = prepare(slack, concurrency, provider=provider, rounds=rounds)
        results = [measure_kind(slack, ours, bare, kind, requests, concurrency) for kind in kinds]
        wait_until_idle(ours.process.pid)
        endpoints = [
            BotEndpoint(app.events_url, slack.signing_secret, DRIVER_ACK_TIMEOUT)
            for app in (ours, bare)
        ]
        search = kinds[-1]
        assert isinstance(search, Kind)
        typeahead = measure_typeahead(*endpoints, search.requests[0])
        for endpoint in endpoints:
            endpoint.close()
        time.sleep(SETTLE_SECONDS)
        rss_ours, rss_bare = ours.rss_bytes(), bare.rss_bytes()
    return AckResult(
        concurrency,
        results,
        typeahead,
        rss_ours,
        rss_bare,
        config,
        load_before,
        load_average(),
        time.perf_counter() - started,
    )


def run_matrix(
    configs: Sequence[Config],
    requests: int = REQUESTS,
    database_url: str = DEFAULT_DATABASE_URL,
    *,
    report: Callable[[str], None] | None = None,
) -> MatrixResult:
    """Every configuration, one after another; `report` gets each one's lines as it ends. One
    that fails (a step of its preparation, a process that does not start) is reported, with its
    traceback, and the others still run."""
    matrix = MatrixResult()
    for config in configs:
        try:
            result = run(
                requests,
                config.in_flight,
                database_url,
                provider=config.provider,
                database=config.database,
            )
        except Exception as error:  # noqa: BLE001 - shown, and the matrix goes on
            matrix.failed.append((config, f"{type(error).__name__}: {error}"))
            if report is not None:
                report(f"{config.name}: not measured\n{traceback.format_exc()}")
            continue
        matrix.results.append(result)
        if report is not None:
            report("\n".join(result.lines()))
    return matrix


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    described.add_argument("--requests", type=int, default=REQUESTS, help="per kind and app")
    described.add_argument(
        "--in-flight",
        "--concurrency",
        dest="in_flight",
        type=int,
        nargs="+",
        default=list(IN_FLIGHT),
        help="requests in flight at a time (one run each)",
    )
    described.add_argument(
        "--database", nargs="+", choices=DATABASES, default=list(DATABASES), help="one run each"
    )
    described.add_argument(
        "--provider", nargs="+", choices=PROVIDERS, default=list(PROVIDERS), help="one run each"
    )
    described.add_argument(
        "--database-url", default=DEFAULT_DATABASE_URL, help="the PostgreSQL database's (fresh)"
    )
    return described


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[Config]]:
    """The arguments and the configurations they name; refuses what the benchmark cannot run."""
    described = parser()
    arguments = described.parse_args(argv)
    if not all(1 <= count <= 200 for count in arguments.in_flight):
        described.error("--in-flight must be 1..200")
    if not 1 <= arguments.requests <= 20000:
        described.error("--requests must be 1..20000")
    if REST in arguments.provider and arguments.requests > MAX_REST_REQUESTS:
        described.error(
            f"under REST each consent return is a customer of its own: --requests at most "
            f"{MAX_REST_REQUESTS}"
        )
    return arguments, configurations(arguments.in_flight, arguments.database, arguments.provider)


def main(argv: Sequence[str] | None = None) -> None:
    arguments, configs = parse_arguments(argv)
    print(f"Machine: {machine_summary()}; {load_average()}")
    print(
        f"{len(configs)} configuration(s), {arguments.requests} requests per kind and app: "
        + ", ".join(config.name for config in configs),
        flush=True,
    )
    matrix = run_matrix(
        configs,
        arguments.requests,
        arguments.database_url,
        report=lambda text: print(f"\n{text}", flush=True),
    )
    print()
    print("\n".join(matrix.table()))
    print(f"Afterwards: {load_average()}")


if __name__ == "__main__":
    main()
