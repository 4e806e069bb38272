from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from bot.outbox import delivery_halt, halt_delivery
from bot.settings import Settings
from payroll.nmbrs_soap.model import Company
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage
from storage.repository import SqlUnitOfWork
from tests.storage.scratch import completed_onboarding

TOKEN = "5f4e3d2c1b0a99887766554433221100"
HALTED_AT = datetime(2026, 11, 30, 22, 15, tzinfo=UTC)
runner = CliRunner()

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture
def migrated_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def store_link(database_url: str, keys: list[str]) -> int:
    engine = make_engine(database_url)
    with SqlUnitOfWork(engine, TokenCipher(keys)) as uow:
        onboarding = completed_onboarding(uow)
        link = uow.links.create(
            onboarding=onboarding,
            username="api@korst.nl",
            token=TOKEN,
            domain="korst",
            companies=[Company(id=101, number=1, name="Bakkerij De Korst B.V.", guid="g-101")],
        )
        uow.commit()
    engine.dispose()
    assert link.id is not None
    return link.id


def test_serve_without_secrets_fails_naming_each_missing_setting() -> None:
    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "ENCRYPTION_KEYS",
        "STATUS_CHANNEL",
        "TERMS_URL",
        "SUPPORT_PHONE",
        "ACCOUNT_MANAGER_GROUP",
    ):
        assert any(line.startswith(f"error: {name} is not set") for line in lines), name
    assert "Traceback" not in result.output


def test_serve_in_socket_mode_also_names_the_app_token(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_serve(monkeypatch)

    result = runner.invoke(app, ["serve", "--socket-mode"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: SLACK_APP_TOKEN is not set "
        "(an app-level token (xapp-...) with connections:write, for Socket Mode)"
    ]


def configure_serve(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "ENCRYPTION_KEYS": generate_key(),
        "STATUS_CHANNEL": "C0STATUS",
        "TERMS_URL": "https://example.com/terms",
        "SUPPORT_PHONE": "+31 20 000 0000",
        "ACCOUNT_MANAGER_GROUP": "S0MANAGERS",
        "NMBRS_CLIENT_ID": "PartnerApp_Onboarding_1",
        "NMBRS_CLIENT_SECRET": "client-secret",
        "NMBRS_SUBSCRIPTION_KEY": "subscription-key",
        "PUBLIC_URL": "https://onboarding.example.nl",
    } | overrides
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_serve_refuses_to_start_without_an_account_manager_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_serve(monkeypatch, ACCOUNT_MANAGER_GROUP="")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: ACCOUNT_MANAGER_GROUP is not set (the id (S...) of the Slack user group of the "
        "account managers, or * to make every full member of our workspace one)"
    ]


def test_serve_names_an_account_manager_group_that_is_no_group_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_serve(monkeypatch, ACCOUNT_MANAGER_GROUP="account-managers")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ACCOUNT_MANAGER_GROUP: must be a Slack user group id")


def test_serve_refuses_a_malformed_key_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_serve(monkeypatch, ENCRYPTION_KEYS=f"{generate_key()},my-secret-passphrase")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "ENCRYPTION_KEYS entry 2 of 2 is not a valid Fernet key" in result.stderr
    assert "my-secret-passphrase" not in result.output


def test_serve_on_an_old_schema_says_to_run_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    configure_serve(monkeypatch, DATABASE_URL=database_url)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "run `onboard-bot db upgrade`" in result.stderr


def test_an_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: PORT: ")


def test_db_upgrade_then_links_list_prints_an_empty_array_on_a_new_sqlite_file(
    tmp_path: Path,
) -> None:
    """The console script itself, as a user runs it."""
    script = Path(sys.executable).with_name("onboard-bot")
    environment = {
        key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields
    } | {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *arguments],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    listed = run("links", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "[]\n"


def test_python_dash_m_bot_is_the_same_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "onboard-bot" in result.stdout and "serve" in result.stdout


def test_links_list_json_has_the_documented_shape_and_no_token(migrated_database: str) -> None:
    link_id = store_link(migrated_database, [generate_key()])

    result = runner.invoke(app, ["links", "list", "--json"])

    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    [link] = json.loads(result.stdout)
    assert set(link) == {
        "id",
        "client",
        "channel",
        "provider",
        "username",
        "domain",
        "debtor_ids",
        "created_at",
        "revoked_at",
        "companies",
    }
    assert (link["id"], link["client"], link["channel"], link["revoked_at"]) == (
        link_id,
        "Bakkerij De Korst",
        "C0SHARED",
        None,
    )
    assert (link["provider"], link["username"], link["domain"], link["debtor_ids"]) == (
        "nmbrs",
        "api@korst.nl",
        "korst",
        None,
    )
    assert link["companies"] == [
        {"id": 101, "guid": "g-101", "number": 1, "name": "Bakkerij De Korst B.V."}
    ]


def test_links_list_shows_links_readably(migrated_database: str) -> None:
    store_link(migrated_database, [generate_key()])
    result = runner.invoke(app, ["links", "list"])
    assert result.exit_code == 0
    assert "Bakkerij De Korst (C0SHARED)  api@korst.nl@korst" in result.stdout
    assert "active  [1 Bakkerij De Korst B.V.]" in result.stdout


@pytest.fixture
def bot_environment(migrated_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What `links unlink` needs besides the database: the key and the status channel."""
    monkeypatch.setenv("ENCRYPTION_KEYS", generate_key())
    monkeypatch.setenv("STATUS_CHANNEL", "C0STATUS")
    return migrated_database


def test_unlink_erases_the_token_audits_and_reports_it(bot_environment: str) -> None:
    link_id = store_link(bot_environment, [generate_key()])

    result = runner.invoke(app, ["links", "unlink", str(link_id)])

    assert result.exit_code == 0, result.output
    assert f"unlinked link {link_id} of Bakkerij De Korst" in result.stdout
    engine = make_engine(bot_environment)
    with SqlUnitOfWork(engine, None) as uow:
        link = uow.links.require(link_id)
        assert link.encrypted_secret is None and link.revoked_at is not None
        assert [event.kind for event in uow.audit.for_link(link_id)] == ["link_unlinked"]
        assert uow.onboardings.require(link.onboarding_id).state == "unlinked"
        reports = uow.session.exec(select(OutboxMessage)).all()
    engine.dispose()
    assert [(report.kind, report.recipient) for report in reports] == [
        ("report.link_unlinked", "C0STATUS")
    ]
    [listed] = json.loads(runner.invoke(app, ["links", "list", "--json"]).stdout)
    assert listed["revoked_at"] is not None


def test_unlinking_twice_changes_nothing_the_second_time(bot_environment: str) -> None:
    link_id = store_link(bot_environment, [generate_key()])
    runner.invoke(app, ["links", "unlink", str(link_id)])
    again = runner.invoke(app, ["links", "unlink", str(link_id)])
    assert again.exit_code == 0
    assert again.stdout == f"link {link_id} was already unlinked; nothing changed\n"


def test_unlinking_an_unknown_id_is_a_clear_error(bot_environment: str) -> None:
    result = runner.invoke(app, ["links", "unlink", "404"])
    assert result.exit_code == 1
    assert result.stderr == "error: no link with id 404 (see `onboard-bot links list`)\n"


def test_unlinking_names_the_settings_its_report_needs(migrated_database: str) -> None:
    result = runner.invoke(app, ["links", "unlink", "1"])
    assert result.exit_code == 1
    assert [line.split(" is not set")[0] for line in result.stderr.splitlines()] == [
        "error: ENCRYPTION_KEYS",
        "error: STATUS_CHANNEL",
    ]


def test_keys_generate_prints_a_usable_key() -> None:
    result = runner.invoke(app, ["keys", "generate"])
    assert result.exit_code == 0
    TokenCipher([result.stdout.strip()])


def test_keys_rotate_moves_every_token_to_the_newest_key(
    migrated_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = generate_key(), generate_key()
    link_id = store_link(migrated_database, [old_key])
    monkeypatch.setenv("ENCRYPTION_KEYS", f"{new_key},{old_key}")

    result = runner.invoke(app, ["keys", "rotate"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("tokens re-encrypted with the newest key: 1;")
    engine = make_engine(migrated_database)
    with SqlUnitOfWork(engine, TokenCipher([new_key])) as uow:
        assert uow.links.token(uow.links.require(link_id)) == TOKEN
    engine.dispose()


def test_keys_rotate_without_the_old_key_changes_nothing(
    migrated_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = generate_key()
    link_id = store_link(migrated_database, [old_key])
    monkeypatch.setenv("ENCRYPTION_KEYS", generate_key())

    result = runner.invoke(app, ["keys", "rotate"])

    assert result.exit_code == 1
    assert "nothing was changed" in result.stderr
    engine = make_engine(migrated_database)
    with SqlUnitOfWork(engine, TokenCipher([old_key])) as uow:
        assert uow.links.token(uow.links.require(link_id)) == TOKEN
    engine.dispose()


def test_settings_that_contradict_each_other_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMINDER_FIRST_WORKING_DAYS", "9")
    result = runner.invoke(app, ["links", "list"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: REMINDER_SECOND_WORKING_DAYS must be after REMINDER_FIRST_WORKING_DAYS\n"
    )


def test_the_nmbrs_commands_are_part_of_the_cli() -> None:
    result = runner.invoke(app, ["nmbrs", "--help"])
    assert result.exit_code == 0
    assert "check" in result.stdout and "sandbox" in result.stdout


def test_db_revision_writes_nothing_when_models_and_migrations_agree() -> None:
    versions = Path(__file__).parents[2] / "storage" / "migrations" / "versions"
    before = sorted(versions.glob("*.py"))

    result = runner.invoke(app, ["db", "revision", "no change"])

    assert result.exit_code == 0, result.output
    assert "models and migrations agree: no revision written" in result.output
    assert sorted(versions.glob("*.py")) == before


def test_serve_with_several_workers_refuses_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure_serve(monkeypatch, DATABASE_URL=f"sqlite:///{tmp_path / 'one-writer.db'}")

    result = runner.invoke(app, ["serve", "--workers", "2"])

    assert result.exit_code == 1
    assert "--workers above 1 needs HTTP mode on PostgreSQL" in result.stderr


def test_outbox_resume_lifts_a_halt_and_says_what_it_lifted(bot_environment: str) -> None:
    engine = make_engine(bot_environment)
    with Session(engine) as session:
        halt_delivery(session, team_id="T0OURS", reason="app_uninstalled", now=HALTED_AT)
        session.commit()

    result = runner.invoke(app, ["outbox", "resume"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "lifted the halt of 2026-11-30T22:15:00+00:00 (app_uninstalled for team T0OURS)",
        "delivery resumed: the waiting messages go out while `onboard-bot serve` runs",
    ]
    with Session(engine) as session:
        assert delivery_halt(session) is None
    engine.dispose()


def test_outbox_resume_without_a_halt_changes_nothing(bot_environment: str) -> None:
    result = runner.invoke(app, ["outbox", "resume"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "delivery was not halted; nothing changed\n"
