"""Engines and schema migrations.

- `make_engine(url)`: the one way to open a database. SQLite gets foreign keys switched on, a
  busy timeout and WAL journaling (readers never wait for the writer), and a new file is created
  readable by its owner only (0600; SQLite gives its -wal, -shm and -journal files the database
  file's mode); PostgreSQL goes through
  psycopg 3 (a plain `postgresql://` URL is accepted) with a checked, recycled connection pool
  and a short connect timeout, so an unreachable server fails fast instead of hanging a request.
- `upgrade(url_or_engine)`: runs the alembic migrations in `storage/migrations` to the newest
  revision, programmatically and from any working directory (also from an installed package).
- `schema_status(engine)`: whether the database is at the newest revision; `serve` refuses to
  start otherwise.
- `check_connection(engine)`: a `SELECT 1`, for the health check.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_SECONDS = 15
# A SQLite file holds the encrypted tokens and the clients' data: owner only.
SQLITE_FILE_MODE = 0o600
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; `postgresql://` and `postgres://` mean psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
        )
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
    )


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if not in_memory and url.database and not url.query.get("uri"):
        _create_private_file(url.database)
    engine = create_engine(
        url,
        # Use cases run in worker threads; each session still uses one connection at a time.
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        # An in-memory database exists per connection: share one so every session sees it.
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    return engine


def _create_private_file(path: str) -> None:
    """Create the database file 0600 unless it exists, before SQLite would create it with the
    umask's mode (0644 as a rule). The mode given to os.open can only lose bits to the umask.
    Where it cannot be created (no such directory), SQLite's own error says so on connecting."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except OSError:  # it exists (its mode is the operator's), or SQLite will report the problem
        return
    os.close(descriptor)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py migrates on this engine; the URL never goes through ConfigParser interpolation.
    config.attributes["engine"] = engine
    return config


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default)."""
    owns_engine = not isinstance(url_or_engine, Engine)
    engine = make_engine(url_or_engine) if owns_engine else url_or_engine
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    finally:
        if owns_engine:
            engine.dispose()


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    newest: str

    @property
    def is_current(self) -> bool:
        return self.current == self.newest


def schema_status(engine: Engine) -> SchemaStatus:
    """The database's revision (None when never migrated) and the newest one in the package.
    Read without alembic (~11 MiB with mako and pygments, which `serve` would then keep for
    good): the newest is the revision of MIGRATIONS_DIR/versions no other revises, the
    database's the row alembic keeps in `alembic_version`."""
    with engine.connect() as connection:
        current = None
        if inspect(connection).has_table(VERSION_TABLE):
            current = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return SchemaStatus(current=current, newest=newest_revision())


VERSION_TABLE = "alembic_version"


def newest_revision(versions: Path | None = None) -> str:
    """The head of the migrations: the one revision no other names as its down_revision."""
    revisions, revised = set(), set()
    for path in sorted((versions or MIGRATIONS_DIR / "versions").glob("*.py")):
        names = _module_strings(path)
        if "revision" in names:
            revisions.add(names["revision"])
            if names.get("down_revision"):
                revised.add(names["down_revision"])
    heads = revisions - revised
    assert len(heads) == 1, f"storage/migrations must have one head, not {sorted(heads)}"
    return heads.pop()


def _module_strings(path: Path) -> dict[str, str]:
    """The module's top-level assignments of a string (`revision: str = "0001"`)."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def check_connection(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
