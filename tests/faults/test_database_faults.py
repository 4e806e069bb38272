"""The database fails at a submit: the customer gets a clear error, nothing is half written, and
once the database is back the same step works.

A real outage each: on PostgreSQL the line to the server is cut (open connections dropped, new
ones refused); on SQLite another process holds the write lock (the bot's busy timeout is made
short so the test does not wait 15 s).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

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
from devslack import DevSlack, SlackUser
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.db import make_engine, upgrade
from tests.e2e.journey import ServedBot, enter_credentials, settled, start, to_credentials
from tests.faults.proxy import tcp_proxy
from tests.served import bot_settings, database_rows

ERROR_TITLE = "Something went wrong"


class Outage:
    """Makes the bot's database unreachable while `during()` runs."""

    def __init__(self, database_url: str, bot_url: str, during):  # type: ignore[no-untyped-def]
        self.database_url = database_url
        self.bot_url = bot_url
        self.during = during


@pytest.fixture
def outage(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        monkeypatch.setattr("storage.db.SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)

        @contextmanager
        def locked() -> Iterator[None]:
            other_process = sqlite3.connect(url.database, isolation_level=None)
            other_process.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                other_process.execute("ROLLBACK")
                other_process.close()

        yield Outage(database_url, database_url, locked)
        return
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as line:

        @contextmanager
        def cut() -> Iterator[None]:
            line.cut()
            try:
                yield
            finally:
                line.restore()

        bot_url = url.set(host="127.0.0.1", port=line.port).render_as_string(hide_password=False)
        yield Outage(database_url, bot_url, cut)


@pytest.fixture
def fragile_bot(outage: Outage, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[ServedBot]:
    """The bot with its database behind the outage."""
    upgrade(outage.database_url)
    served = ServedBot(settings=bot_settings(outage.bot_url, slack, nmbrs), slack=slack)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def rows(outage: Outage) -> Iterator:  # type: ignore[type-arg]
    """Every row of the database, read directly (not through the outage)."""
    engine = make_engine(outage.database_url)
    yield lambda: database_rows(engine)
    engine.dispose()


def submit_during(outage: Outage, person: SlackUser, view) -> None:  # type: ignore[no-untyped-def]
    with outage.during():
        person.submit(view)
        shown = settled(person)
        assert shown.title == ERROR_TITLE
        assert "try again" in shown.text()


def test_terms_submitted_while_the_database_is_unreachable(
    fragile_bot: ServedBot, outage: Outage, rows, customer: SlackUser
) -> None:
    fragile_bot.invite(language="en")
    terms = start(customer)
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    before = rows()
    submit_during(outage, customer, customer.modal)
    assert rows() == before

    terms = start(customer)
    assert terms.callback_id == CALLBACK_TERMS
    customer.fill(terms, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: "nmbrs"})
    customer.submit(terms)
    assert settled(customer).callback_id == CALLBACK_PREPARATION


def test_credentials_submitted_while_the_database_is_unreachable(
    fragile_bot: ServedBot, outage: Outage, rows, customer: SlackUser, nmbrs: SandboxHandle
) -> None:
    onboarding_id = fragile_bot.invite(language="en")
    to_credentials(customer)
    view = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(view, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    before = rows()
    submit_during(outage, customer, view)
    assert rows() == before
    assert fragile_bot.onboarding(onboarding_id).pending_token is None

    assert start(customer).callback_id == CALLBACK_CREDENTIALS
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    assert companies.callback_id == CALLBACK_COMPANIES


def test_companies_submitted_while_the_database_is_unreachable(
    fragile_bot: ServedBot, outage: Outage, rows, customer: SlackUser
) -> None:
    onboarding_id = fragile_bot.invite(language="en")
    to_credentials(customer)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: ["48201", "48202", "48203", "48204", "48205"]})
    before = rows()
    submit_during(outage, customer, companies)
    assert rows() == before
    assert fragile_bot.link_count() == 0

    companies = start(customer)
    assert companies.callback_id == CALLBACK_COMPANIES
    customer.fill(companies, {ACTION_COMPANIES: ["48201", "48202", "48203", "48204", "48205"]})
    customer.submit(companies)
    assert settled(customer).title == "Connected"
    assert fragile_bot.onboarding(onboarding_id).state == "completed"
    assert fragile_bot.link_count() == 1
