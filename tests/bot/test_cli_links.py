"""`onboard-bot links show|verify|migrate`: on a migrated database with two demo links."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import Settings
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    HTTP_500,
    SandboxHandle,
    demo_accounts,
    run_sandbox,
)
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage
from storage.repository import SqlUnitOfWork
from tests.usecases.link_world import CHANNEL, STATUS, store_linked_client

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with run_sandbox() as handle:
        yield handle


@pytest.fixture
def nmbrs(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.accounts.reset(demo_accounts())
    sandbox.clear_calls()
    return sandbox


@pytest.fixture
def cli_database(
    database_url: str, nmbrs: SandboxHandle, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> str:
    """A migrated database with two links of the demo login; the settings point at it."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    key = generate_key()
    for name, value in {
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": key,
        "NMBRS_BASE_URL": nmbrs.base_url,
        "STATUS_CHANNEL": STATUS,
    }.items():
        monkeypatch.setenv(name, value)
    upgrade(database_url)
    engine = make_engine(database_url)
    cipher = TokenCipher([key])
    store_linked_client(lambda: SqlUnitOfWork(engine, cipher), nmbrs, companies=None, name="Eén")
    store_linked_client(
        lambda: SqlUnitOfWork(engine, cipher), nmbrs, companies=["48201"], name="Twee"
    )
    engine.dispose()
    return database_url


def test_links_show_tells_the_state_and_never_the_token(cli_database):
    shown = runner.invoke(app, ["links", "show", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.stdout)
    assert (details["id"], details["client"], details["status"]) == (1, "Eén", "active")
    assert details["problem"] is None and len(details["companies"]) == 5
    plain = runner.invoke(app, ["links", "show", "1"])
    assert "state: active" in plain.stdout and "Bakkerij De Gouden Korst B.V." in plain.stdout
    assert DEMO_TOKEN not in shown.output + plain.output


def test_links_show_of_an_unknown_link_is_a_clear_error(cli_database):
    result = runner.invoke(app, ["links", "show", "404"])
    assert result.exit_code == 1
    assert "no link with id 404" in result.stderr


def test_links_verify_all_marks_the_broken_link_and_exits_3(cli_database, nmbrs):
    account = nmbrs.accounts[DEMO_USERNAME]
    account.companies = [c for c in account.companies if c.id != 48205]

    result = runner.invoke(app, ["links", "verify", "--all"])

    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines() == [
        "link 1 (Eén): needs_relink (companies_gone); reported",
        "link 2 (Twee): ok",
    ]
    shown = json.loads(runner.invoke(app, ["links", "show", "1", "--json"]).stdout)
    assert shown["status"] == "needs_relink"
    assert [c["id"] for c in shown["problem"]["companies_gone"]] == [48205]
    assert runner.invoke(app, ["links", "verify", "2"]).exit_code == 0


def test_links_verify_when_nmbrs_fails_exits_5_and_changes_nothing(cli_database, nmbrs):
    nmbrs.accounts[DEMO_USERNAME].fail(HTTP_500)
    result = runner.invoke(app, ["links", "verify", "1"])
    assert result.exit_code == 5
    assert "link 1 (Eén): unavailable" in result.stdout


def test_links_verify_needs_one_link_or_all(cli_database):
    for arguments in ([], ["1", "--all"]):
        result = runner.invoke(app, ["links", "verify", *arguments])
        assert result.exit_code == 1
        assert "give one link's ID or --all" in result.stderr


def outbox_kinds(database_url: str) -> list[tuple[str, str | None]]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
            return [(row.kind, row.dedupe_key) for row in rows]
    finally:
        engine.dispose()


@pytest.fixture
def rest_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "NMBRS_CLIENT_ID": "PartnerApp_OnboardBot_test",
        "NMBRS_CLIENT_SECRET": "a-client-secret",
        "NMBRS_SUBSCRIPTION_KEY": "a-subscription-key",
        "PUBLIC_URL": "http://127.0.0.1:3000",
    }.items():
        monkeypatch.setenv(name, value)


def test_links_migrate_refuses_while_the_rest_api_is_not_configured(cli_database):
    result = runner.invoke(app, ["links", "migrate"])
    assert result.exit_code == 1
    assert "NMBRS_CLIENT_ID is not set" in result.stderr
    assert outbox_kinds(cli_database) == []
    dry = runner.invoke(app, ["links", "migrate", "--dry-run"])
    assert dry.exit_code == 0 and "warning: PUBLIC_URL is not set" in dry.stderr


def test_links_migrate_dry_run_says_what_it_would_ask_and_changes_nothing(
    cli_database, rest_configured
):
    result = runner.invoke(app, ["links", "migrate", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"link 1 (Eén, {CHANNEL}, 5 companies): would ask to move to the REST API",
        f"link 2 (Twee, {CHANNEL}, 1 companies): would ask to move to the REST API",
    ]
    assert re.fullmatch(r"0 of 2 links on the REST API; .*2027-03-01", lines[2])
    assert outbox_kinds(cli_database) == []


def test_links_migrate_asks_each_soap_links_channel_once(cli_database, rest_configured):
    first = runner.invoke(app, ["links", "migrate"])
    assert first.exit_code == 0, first.output
    assert "link 1 (Eén, C0SHARED, 5 companies): asked to move to the REST API" in first.stdout
    again = runner.invoke(app, ["links", "migrate"])
    assert again.exit_code == 0, again.output
    assert "link 2 (Twee, C0SHARED, 1 companies): asked before; not asked again" in again.stdout
    requests = [key for kind, key in outbox_kinds(cli_database) if kind == "link_move_request"]
    assert requests == ["link_move_request:1", "link_move_request:2"]
    assert DEMO_TOKEN not in first.output + again.output


def test_links_migrate_without_soap_links_says_so(cli_database, rest_configured):
    for link_id in ("1", "2"):
        assert runner.invoke(app, ["links", "unlink", link_id]).exit_code == 0
    result = runner.invoke(app, ["links", "migrate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "no active SOAP links to move"
