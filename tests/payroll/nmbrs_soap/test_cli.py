"""`onboard-bot nmbrs check` and `nmbrs sandbox`: JSON, exit codes, and the sandbox process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from payroll.nmbrs_soap.cli import app
from payroll.nmbrs_soap.client import SoapNmbrsClient
from payroll.nmbrs_soap.model import Credentials
from payroll.nmbrs_soap.sandbox import (
    DEMO_PERMISSIONS_OFF,
    DEMO_TOKEN,
    DEMO_USERNAME,
    MANY_COMPANIES_USERNAME,
    NO_SUBSCRIPTION_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    soap_fault,
)

runner = CliRunner()
REPORT_KEYS = {"ok", "domain", "companies", "missing_permissions", "error"}


def check(sandbox, username: str, token: str | None = None, *extra: str):
    """`nmbrs check` with the token on standard input, as a script would pass it."""
    token = token if token is not None else sandbox.accounts[username].token
    result = runner.invoke(
        app,
        ["check", "--username", username, "--token", "-", "--base-url", sandbox.base_url, *extra],
        input=f"{token}\n",
    )
    return result.exit_code, result.output


def test_a_good_account_prints_its_companies_and_exits_0(sandbox):
    exit_code, output = check(sandbox, DEMO_USERNAME)

    report = json.loads(output)
    assert exit_code == 0
    assert set(report) == REPORT_KEYS
    assert report["ok"] is True
    assert report["domain"] == "voorbeeld"
    assert report["companies"][0] == {
        "id": 48201,
        "number": 1,
        "name": "Bakkerij De Gouden Korst B.V.",
        "guid": sandbox.accounts[DEMO_USERNAME].companies[0].guid,
    }
    assert report["missing_permissions"] == []
    assert report["error"] is None


def test_wrong_credentials_exit_3_without_echoing_the_token(sandbox):
    exit_code, output = check(sandbox, DEMO_USERNAME, "f" * 32)

    report = json.loads(output)
    assert exit_code == 3
    assert report["ok"] is False
    assert report["error"]["code"] == "wrong_credentials"
    assert report["companies"] == [] and report["domain"] is None
    assert "f" * 32 not in output


def test_missing_permissions_exit_4_with_the_companies_still_listed(sandbox):
    exit_code, output = check(sandbox, PERMISSIONS_OFF_USERNAME)

    report = json.loads(output)
    assert exit_code == 4
    assert report["missing_permissions"] == list(DEMO_PERMISSIONS_OFF)
    assert report["missing_permissions"][0] == "CompanyService.WageTax_GetXML"
    assert len(report["companies"]) == 3
    assert report["error"]["code"] == "permissions_missing"


def test_nmbrs_failing_exits_5(sandbox):
    sandbox.accounts[DEMO_USERNAME].fail(soap_fault(9999))

    exit_code, output = check(sandbox, DEMO_USERNAME)

    assert exit_code == 5
    assert json.loads(output)["error"]["code"] == "unavailable"


def test_nmbrs_unreachable_exits_5():
    result = runner.invoke(
        app,
        ["check", "--username", "a@b.nl", "--token", "-", "--base-url", "http://127.0.0.1:9"],
        input="t" * 32,
    )

    assert result.exit_code == 5
    assert json.loads(result.output)["ok"] is False


def test_without_a_token_option_it_asks_for_the_token_without_echoing_it(sandbox):
    result = runner.invoke(
        app,
        ["check", "--username", DEMO_USERNAME, "--base-url", sandbox.base_url],
        input=f"{DEMO_TOKEN}\n",
    )

    assert result.exit_code == 0
    assert "Nmbrs API token" in result.stderr, "the question goes to stderr, the JSON to stdout"
    assert json.loads(result.stdout)["ok"] is True
    assert DEMO_TOKEN not in result.output


def test_a_token_of_dash_is_read_from_standard_input_without_a_warning(sandbox):
    result = runner.invoke(
        app,
        ["check", "--username", DEMO_USERNAME, "--token", "-", "--base-url", sandbox.base_url],
        input=f"{DEMO_TOKEN}\n",
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True
    assert result.stderr == ""


def test_a_token_on_the_command_line_still_works_but_warns_on_stderr(sandbox):
    result = runner.invoke(
        app,
        [
            "check",
            "--username",
            DEMO_USERNAME,
            "--token",
            DEMO_TOKEN,
            "--base-url",
            sandbox.base_url,
        ],
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True
    assert result.stderr.startswith("warning: a token given as --token VALUE is visible")
    assert "--token -" in result.stderr and DEMO_TOKEN not in result.stderr


def test_an_empty_token_is_a_usage_error():
    result = runner.invoke(app, ["check", "--username", "a@b.nl", "--token", "-"], input="\n")

    assert result.exit_code == 2
    assert "no token given" in result.stderr


@pytest.mark.parametrize(
    ("fault", "code"), [(None, "no_subscription"), (2004, "no_access"), (2043, "invalid_domain")]
)
def test_other_refusals_exit_6(sandbox, fault, code):
    username = NO_SUBSCRIPTION_USERNAME if fault is None else DEMO_USERNAME
    if fault:
        sandbox.accounts[DEMO_USERNAME].fail(soap_fault(fault), "CompanyService.List_GetAll")

    exit_code, output = check(sandbox, username)

    assert exit_code == 6
    assert json.loads(output)["error"]["code"] == code


def test_a_listing_of_more_than_fifty_companies_has_null_guids(sandbox):
    exit_code, output = check(sandbox, MANY_COMPANIES_USERNAME)

    companies = json.loads(output)["companies"]
    assert exit_code == 0
    assert len(companies) == 5000
    assert {company["guid"] for company in companies} == {None}


def test_the_base_url_defaults_to_the_setting(sandbox, monkeypatch):
    monkeypatch.setenv("NMBRS_BASE_URL", sandbox.base_url)

    result = runner.invoke(
        app, ["check", "--username", DEMO_USERNAME, "--token", "-"], input=DEMO_TOKEN
    )

    assert result.exit_code == 0


def test_a_base_url_with_a_path_is_a_usage_error():
    result = runner.invoke(
        app,
        ["check", "--username", "a", "--token", "b", "--base-url", "https://api.nmbrs.nl/soap"],
    )

    assert result.exit_code == 2
    assert "scheme and host" in result.output


def test_the_sandbox_command_serves_the_demo_accounts_until_interrupted():
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from payroll.nmbrs_soap.cli import app; app()",
            "sandbox",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = [process.stdout.readline() for _ in range(3)]
        base_url = banner[0].rsplit(" ", 1)[1].strip()
        provider = SoapNmbrsClient(base_url)
        try:
            check_result = provider.check_account(Credentials(DEMO_USERNAME, DEMO_TOKEN))
        finally:
            provider.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        rest = process.stdout.read()
    finally:
        process.kill()
        process.stdout.close()

    assert banner[1].strip() == f"NMBRS_BASE_URL={base_url}"
    assert f"{DEMO_USERNAME} / {DEMO_TOKEN}" in "".join(banner) + rest
    assert len(check_result.companies) == 5
    assert "Sandbox stopped." in rest
    assert process.returncode == 0
