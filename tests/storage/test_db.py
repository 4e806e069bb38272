from __future__ import annotations

import os
import stat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage.db import check_connection, make_engine, normalise_url, schema_status, upgrade


def test_migrations_build_exactly_the_schema_of_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_a_new_database_is_not_current_until_upgraded(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)  # migrations are found from any working directory
    engine = make_engine(database_url)
    before = schema_status(engine)
    upgrade(database_url)
    after = schema_status(engine)
    engine.dispose()

    assert before.current is None and not before.is_current
    assert after.is_current


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    upgrade(engine)
    assert schema_status(engine).is_current


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO onboarding (client_id, state, step_data, started_by, created_at,"
                " updated_at, last_progress_at, version) VALUES (999, 'invited', '{}', 'U0MANAGER',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
            )
        )


def test_a_plain_postgresql_url_uses_psycopg_3() -> None:
    assert normalise_url("postgresql://u@db/x").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@db/x").drivername == "postgresql+psycopg"


def test_an_unsupported_database_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        make_engine("mysql://u@db/x")


def test_an_unreachable_database_fails_the_connection_check(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-directory' / 'x.db'}")
    with pytest.raises(Exception, match="unable to open database file"):
        check_connection(engine)


def test_a_new_sqlite_file_and_its_journals_are_readable_by_their_owner_only(tmp_path) -> None:
    previous_umask = os.umask(0o022)  # the usual umask, which makes SQLite's own files 0644
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'onboarding.db'}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE kept (secret TEXT)"))
            connection.execute(text("INSERT INTO kept VALUES ('ciphertext')"))
            written = sorted(path.name for path in tmp_path.iterdir())
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
        engine.dispose()
    finally:
        os.umask(previous_umask)

    assert {"onboarding.db", "onboarding.db-wal", "onboarding.db-shm"} <= set(written)
    assert modes == dict.fromkeys(written, 0o600)


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path) -> None:
    database = tmp_path / "shared.db"
    database.touch(mode=0o640)
    database.chmod(0o640)

    engine = make_engine(f"sqlite:///{database}")
    check_connection(engine)
    engine.dispose()

    assert stat.S_IMODE(database.stat().st_mode) == 0o640
