"""`onboard-bot demo` (what `make demo` runs): all local, no configuration, Ctrl-C stops it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from bot.bootstrap import build_container, create_asgi_app_for, payroll_providers
from bot.demo import (
    DEMO_NMBRS_API,
    LOCAL_ENV_FILE,
    REST_LOGINS,
    Demo,
    StandInTrafficFilter,
    bot_port,
    example_settings,
    guide,
    local_encryption_key,
    local_signing_secret,
    nmbrs_api,
    nmbrs_rest_sandbox,
    nmbrs_sandbox,
    prepare_demo,
    slack_stand_in,
)
from bot.settings import Settings
from devslack.workspace import SIGNING_SECRET as PUBLISHED_SIGNING_SECRET
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    demo_logins,
)
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, MANY_COMPANIES_USERNAME
from storage.crypto import TokenCipher

ONBOARD_BOT = Path(sys.executable).with_name("onboard-bot")
PROJECT = Path(__file__).resolve().parents[2]
# Every stage but the files the demo keeps in the working directory.
SERVER_STAGES = [
    example_settings,
    nmbrs_sandbox,
    bot_port,
    nmbrs_rest_sandbox,
    nmbrs_api,
    slack_stand_in,
]
STARTUP_SECONDS = 30


@pytest.fixture
def clean_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh clone's working directory: no .env files, no settings in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return tmp_path


@pytest.fixture(params=["rest", "soap", None])
def local_demo(clean_directory: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo's servers, set up in-process (without the local key file and database), with
    each choice of Nmbrs API (None: the demo's own)."""
    with ExitStack() as stack:
        yield prepare_demo(
            stack, SERVER_STAGES, stand_in_port=0, nmbrs_api=request.param, _env_file=None
        )


def test_the_demo_keeps_one_generated_key_in_the_local_env_file(clean_directory: Path) -> None:
    with ExitStack() as stack:
        first = prepare_demo(stack, [local_encryption_key])
        second = prepare_demo(stack, [local_encryption_key])

    written = (clean_directory / LOCAL_ENV_FILE).read_text()
    assert written == f"ENCRYPTION_KEYS={first.settings.encryption_keys.get_secret_value()}\n"
    TokenCipher(first.settings.encryption_key_list)
    assert stat.S_IMODE((clean_directory / LOCAL_ENV_FILE).stat().st_mode) == 0o600
    assert second.settings.encryption_keys == first.settings.encryption_keys
    assert first.messages and not second.messages, "only the first run says it made a key"


def test_each_machine_gets_its_own_signing_secret_kept_in_the_local_env_file(
    clean_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = []
    for home in ("first-clone", "second-clone"):
        (clean_directory / home).mkdir()
        monkeypatch.chdir(clean_directory / home)
        with ExitStack() as stack:
            first_run = prepare_demo(stack, [local_signing_secret])
            second_run = prepare_demo(stack, [local_signing_secret])
        secret = first_run.settings.slack_signing_secret.get_secret_value()
        assert second_run.settings.slack_signing_secret.get_secret_value() == secret
        local_env = clean_directory / home / LOCAL_ENV_FILE
        assert local_env.read_text() == f"SLACK_SIGNING_SECRET={secret}\n"
        assert stat.S_IMODE(local_env.stat().st_mode) == 0o600
        secrets.append(secret)

    assert secrets[0] != secrets[1]
    assert len(secrets[0]) == 64 and PUBLISHED_SIGNING_SECRET not in secrets


def signed(secret: str, body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": "application/json",
    }


async def test_the_demo_refuses_requests_signed_with_the_published_secret(
    clean_directory: Path,
) -> None:
    with ExitStack() as stack:
        running = prepare_demo(stack, stand_in_port=0)
        assert running.slack is not None
        assert running.slack.signing_secret != PUBLISHED_SIGNING_SECRET
        uninstalled = json.dumps(
            {
                "type": "event_callback",
                "team_id": running.slack.workspace.home_team,
                "api_app_id": running.slack.workspace.app_id,
                "event": {"type": "app_uninstalled"},
                "event_id": "Ev0FORGED",
                "event_time": int(time.time()),
            }
        )
        challenge = json.dumps({"type": "url_verification", "challenge": "c-1", "token": "t"})
        container = build_container(running.settings)
        stack.callback(container.close)
        transport = httpx.ASGITransport(app=create_asgi_app_for(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as bot:
            forged = await bot.post(
                "/slack/events",
                content=uninstalled,
                headers=signed(PUBLISHED_SIGNING_SECRET, uninstalled),
            )
            genuine = await bot.post(
                "/slack/events",
                content=challenge,
                headers=signed(running.slack.signing_secret, challenge),
            )

    assert forged.status_code == 401
    assert (genuine.status_code, genuine.json()) == (200, {"challenge": "c-1"})


def test_every_slack_setting_points_at_the_stand_in_which_points_at_the_bot(
    local_demo: Demo,
) -> None:
    settings, slack = local_demo.settings, local_demo.slack
    assert slack is not None and local_demo.nmbrs is not None

    assert settings.slack_api_url == slack.api_url
    assert (
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
    ) == (
        slack.bot_token,
        slack.signing_secret,
    )
    assert settings.status_channel in slack.workspace.channels
    assert slack.endpoint.url == f"http://127.0.0.1:{settings.port}/slack/events"
    assert settings.nmbrs_base_url == local_demo.nmbrs.base_url
    assert DEMO_USERNAME in local_demo.nmbrs.accounts
    assert settings.missing_for_serve() == ["ENCRYPTION_KEYS"]  # the key stage is left out here
    assert "example" in settings.support_phone


def test_both_nmbrs_sandboxes_run_and_the_rest_fake_knows_the_bots_callback(
    local_demo: Demo,
) -> None:
    settings, rest = local_demo.settings, local_demo.nmbrs_rest
    assert rest is not None and local_demo.nmbrs is not None

    assert settings.nmbrs_api == local_demo.nmbrs_api
    assert local_demo.nmbrs_api in ("rest", "soap")
    assert settings.public_url == f"http://127.0.0.1:{settings.port}"
    assert rest.app.redirect_uris == [f"http://127.0.0.1:{settings.port}/nmbrs/callback"]
    assert settings.nmbrs_redirect_uri == rest.app.redirect_uris[0]
    assert settings.nmbrs_rest_url == settings.nmbrs_identity_url == rest.base_url
    assert settings.nmbrs_client_id == DEMO_CLIENT_ID == rest.app.client_id
    assert settings.nmbrs_client_secret.get_secret_value() == DEMO_CLIENT_SECRET
    assert settings.nmbrs_subscription_key.get_secret_value() == DEMO_SUBSCRIPTION_KEY
    assert settings.rest_configured
    providers = payroll_providers(settings)
    assert set(providers.available) == {"nmbrs", "nmbrs-rest"}
    providers.available["nmbrs-rest"].close()  # type: ignore[attr-defined]


def test_the_demos_own_choice_is_the_rest_api(clean_directory: Path) -> None:
    with ExitStack() as stack:
        chosen = prepare_demo(stack, [nmbrs_api], _env_file=None)
    assert DEMO_NMBRS_API == chosen.nmbrs_api == chosen.settings.nmbrs_api == "rest"


def test_the_guide_names_the_page_the_people_and_the_demo_logins(local_demo: Demo) -> None:
    text = "\n".join(guide(local_demo))

    assert f"Open {local_demo.slack.url}/?as=U0MANAGER&in=C0SHARED" in text
    assert "Anna de Boer" in text and "Jan de Vries" in text and "/onboard" in text
    assert "links list" in text and "Ctrl-C" in text
    if local_demo.nmbrs_api == "rest":
        assert '"Log in bij Nmbrs"' in text and "new tab" in text
        for login in demo_logins():
            assert login.email in text
        for email, what in REST_LOGINS:
            assert any(email in line and what in line for line in text.splitlines())
        assert DEMO_TOKEN not in text and "make demo NMBRS_API=soap" in text
    else:
        assert DEMO_USERNAME in text and DEMO_TOKEN in text
        assert MANY_COMPANIES_USERNAME in text
        assert local_demo.nmbrs.accounts[MANY_COMPANIES_USERNAME].token in text
        assert "make demo NMBRS_API=rest" in text


def test_the_guide_says_what_to_type_for_the_journeys_the_logins_alone_do_not_show(
    local_demo: Demo,
) -> None:
    text = "\n".join(guide(local_demo))

    assert '5,000 companies: type "bakkerij"' in text  # the companies' names, not "Klant 0001"
    assert "Taal voor de klant: Engels for an English client" in text
    assert "/onboard status" in text and "App Home" in text
    if local_demo.nmbrs_api == "soap":
        assert "Any other token is refused; 5 wrong ones within 60 minutes block" in text


def test_the_demo_refuses_an_unknown_nmbrs_api(clean_directory: Path) -> None:
    with ExitStack() as stack, pytest.raises(ValueError, match="rest, soap"):
        prepare_demo(stack, [], nmbrs_api="graphql", _env_file=None)


@pytest.mark.parametrize(
    ("arguments", "command"),
    [
        ([], "onboard-bot demo"),
        (["NMBRS_API=soap"], "onboard-bot demo --nmbrs-api soap"),
        (["NMBRS_API=rest"], "onboard-bot demo --nmbrs-api rest"),
    ],
)
def test_make_demo_passes_the_nmbrs_api_chosen(arguments: list[str], command: str) -> None:
    # Run as from a terminal, also when the suite itself runs under make (CI's `make test`):
    # an outer make's flags would make this one print "Entering directory" lines.
    outer = {"NMBRS_API", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}
    environment = {k: v for k, v in os.environ.items() if k not in outer}
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo", *arguments],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert planned.stdout.splitlines()[-1].strip().endswith(command)


def read_until(stream, pattern: str, seen: list[str]) -> re.Match:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_make_demo_runs_with_no_configuration_and_ctrl_c_stops_everything(
    clean_directory: Path,
) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields
    }
    demo = subprocess.Popen(
        [str(ONBOARD_BOT), "demo"],
        cwd=clean_directory,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        stand_in = read_until(
            demo.stdout, r"Slack stand-in: (\S+), sending .* to (\S+)/slack/", seen
        )
        read_until(demo.stdout, r"Press Ctrl-C to stop", seen)
        page_url, bot_url = stand_in.group(1), stand_in.group(2)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                assert get_json(f"{bot_url}/healthz") == {"ok": True, "delivery": "running"}
                break
            except OSError:
                assert time.monotonic() < deadline, "the bot did not start"
                time.sleep(0.1)
        assert get_json(f"{page_url}/ui/state?user=U0MANAGER&channel=C0SHARED")["connected"]
    finally:
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=STARTUP_SECONDS)

    assert demo.returncode == 0, stderr
    assert stdout.rstrip().endswith("demo: stopped")
    assert "Traceback" not in stderr
    assert "account managers: the members of Slack user group S0MANAGERS" in stderr
    assert (clean_directory / "demo.db").exists()
    assert (clean_directory / LOCAL_ENV_FILE).read_text().startswith("ENCRYPTION_KEYS=")
    for url in (page_url, bot_url):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_the_demo_log_keeps_the_bots_own_requests_and_drops_the_stand_ins() -> None:
    quiet = StandInTrafficFilter("http://127.0.0.1:3000/slack/events")

    def access(path: str) -> logging.LogRecord:
        return logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", path, "1.1", 200),
            None,
        )

    kept = [
        path
        for path in ("/slack/events", "/healthz", "/nmbrs/start", "/nmbrs/callback", "/ui/state")
        if quiet.filter(access(path))
    ]
    assert kept == ["/slack/events", "/healthz", "/nmbrs/start", "/nmbrs/callback"]
