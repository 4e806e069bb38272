"""The load benchmark still drives the served bot end to end (a small run; its figures are for
`make bench`, and no timing is checked here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks import load
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def bench_database_url() -> Iterator[str]:
    """A database of its own on the test server, so a `make bench` running beside is untouched."""
    if not TEST_DATABASE_URL.startswith("postgresql"):
        pytest.skip("the served benchmarks need PostgreSQL (TEST_DATABASE_URL)")
    url = make_url(TEST_DATABASE_URL).set(database=f"bench_{uuid.uuid4().hex[:12]}")
    yield url.render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def test_a_small_load_run_completes_every_onboarding_once(bench_database_url: str) -> None:
    result = load.run(onboardings=3, latency=0.01, database_url=bench_database_url)
    checks = result.checks
    assert len(result.completed_journeys) == 3
    assert (checks.completed, checks.links) == (3, 3)
    assert checks.onboardings_with_more_links == 0
    assert checks.clients_with_more_invites == 0
    assert checks.duplicate_reports == checks.duplicate_status_posts == 0
    assert checks.report_kinds["report.onboarding_completed"] == 3
    assert checks.reports_sent == checks.reports > 0
