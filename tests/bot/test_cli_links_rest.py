"""`onboard-bot links list|show` of a link through the Nmbrs REST API: the provider is named,
each company is its companyId (no SOAP id), and no part of the grant is ever printed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.core.model import Company
from bot.core.payroll import NMBRS_REST
from payroll.nmbrs_rest.model import REQUIRED_SCOPES, Grant
from storage.crypto import TokenCipher, generate_key
from storage.db import make_engine, upgrade
from storage.repository import SqlUnitOfWork
from tests.storage.scratch import completed_onboarding

runner = CliRunner()

DEBTORS = ("6f1c2e0a-1b7d-5e0c-9d1a-2f4b8c3e7a10", "0b9e7d6c-5a4f-5e3d-8c2b-1a0f9e8d7c6b")
COMPANY_IDS = ("3e1f5a7c-9b2d-5f4e-8a6c-0d1b3e5f7a9c", "c4d6e8f0-a2b4-5c6d-9e8f-1a3b5c7d9e0f")
GRANT = Grant(
    access_token="eyJhbGciOiJSUzI1NiJ9.access-token-never-shown",
    refresh_token="refresh-token-never-shown-7f3a",
    expires_at=1_796_000_000.0,
    scopes=REQUIRED_SCOPES,
)

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture
def rest_link(database_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """A migrated database with one link made through the REST API, as the consent stores it:
    the approving login, the debtors it spans, the companies by companyId, the grant encrypted."""
    upgrade(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    engine = make_engine(database_url)
    with SqlUnitOfWork(engine, TokenCipher([generate_key()])) as uow:
        onboarding = completed_onboarding(uow)
        link = uow.links.create(
            onboarding=onboarding,
            username="demo@voorbeeld.nl",
            token=GRANT.to_secret(),
            domain=",".join(DEBTORS),
            companies=[
                Company(id=COMPANY_IDS[0], number=1, name="Bakkerij De Korst B.V.", guid=None),
                Company(id=COMPANY_IDS[1], number=2, name="Korst Holding", guid=COMPANY_IDS[1]),
            ],
            provider=NMBRS_REST,
        )
        uow.commit()
    engine.dispose()
    assert link.id is not None
    return link.id


def never_the_grant(output: str) -> None:
    for secret in (GRANT.access_token, GRANT.refresh_token, GRANT.to_secret(), "access-token"):
        assert secret not in output
    assert "refresh" not in output and "token" not in output


def test_links_list_json_names_the_rest_api_and_each_company_by_its_company_id(rest_link):
    result = runner.invoke(app, ["links", "list", "--json"])

    assert result.exit_code == 0, result.output
    [link] = json.loads(result.stdout)
    assert (link["id"], link["provider"], link["username"]) == (
        rest_link,
        "nmbrs-rest",
        "demo@voorbeeld.nl",
    )
    assert (link["domain"], link["debtor_ids"]) == (None, list(DEBTORS))
    assert link["companies"] == [
        {"id": None, "guid": COMPANY_IDS[0], "number": 1, "name": "Bakkerij De Korst B.V."},
        {"id": None, "guid": COMPANY_IDS[1], "number": 2, "name": "Korst Holding"},
    ]
    never_the_grant(result.output)


def test_links_show_json_is_the_same_object_with_the_state_and_never_the_grant(rest_link):
    listed = json.loads(runner.invoke(app, ["links", "list", "--json"]).stdout)[0]

    result = runner.invoke(app, ["links", "show", str(rest_link), "--json"])

    assert result.exit_code == 0, result.output
    details = json.loads(result.stdout)
    assert {key: details[key] for key in listed} == listed
    assert (details["status"], details["verified_at"], details["problem"]) == (
        "active",
        None,
        None,
    )
    never_the_grant(result.output)


def test_the_plain_list_and_show_name_the_login_and_its_debtors_and_never_the_grant(rest_link):
    listed = runner.invoke(app, ["links", "list"])
    shown = runner.invoke(app, ["links", "show", str(rest_link)])

    assert listed.exit_code == 0 and shown.exit_code == 0, listed.output + shown.output
    assert "demo@voorbeeld.nl (REST API, debtors: 2)" in listed.stdout
    assert "login: demo@voorbeeld.nl (REST API, debtors: 2) (nmbrs-rest)" in shown.stdout
    assert f"1 Bakkerij De Korst B.V. (id None, {COMPANY_IDS[0]})" in shown.stdout
    never_the_grant(listed.output + shown.output)


def test_a_company_gone_from_a_rest_link_is_named_by_its_company_id(rest_link, database_url):
    engine = make_engine(database_url)
    with SqlUnitOfWork(engine, None) as uow:
        link = uow.links.require(rest_link)
        link.status = "needs_relink"
        link.problem = {
            "reason": "companies_gone",
            "since": "2026-12-01T06:00:00+00:00",
            "missing_permissions": [],
            "companies_gone": [
                {"id": COMPANY_IDS[1], "number": 2, "name": "Korst Holding", "guid": None}
            ],
        }
        uow.session.add(link)
        uow.commit()
    engine.dispose()

    details = json.loads(runner.invoke(app, ["links", "show", str(rest_link), "--json"]).stdout)

    assert details["status"] == "needs_relink"
    assert details["problem"]["companies_gone"] == [
        {"id": None, "guid": COMPANY_IDS[1], "number": 2, "name": "Korst Holding"}
    ]
