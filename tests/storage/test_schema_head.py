"""The schema check `serve` makes at start-up reads the newest revision without alembic, and
finds the one alembic would."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from storage.db import alembic_config, make_engine, newest_revision


def test_the_newest_revision_is_alembics_head():
    engine = make_engine("sqlite://")
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    engine.dispose()
    assert newest_revision() == head


def test_the_newest_revision_is_the_one_no_other_revises(tmp_path):
    for name, revision, down in (
        ("a", "0001", None),
        ("c", "0003_x", "0002"),
        ("b", "0002", "0001"),
    ):
        down_text = "None" if down is None else f'"{down}"'
        (tmp_path / f"{name}.py").write_text(
            f'revision: str = "{revision}"\ndown_revision: str | None = {down_text}\n'
        )
    assert newest_revision(tmp_path) == "0003_x"
