"""What `onboard-bot demo` (and `make demo`) sets up before serving: everything local.

The demo is a chain of stages. Each stage looks at the settings so far, may prepare something (a
file, a schema, a local server kept open in the demo's ExitStack until the demo stops) and
supplies settings plus a line telling the user what it did. `serve` then runs on the combined
settings: the bot cannot tell the Nmbrs sandbox from Nmbrs or the Slack stand-in from Slack.
The browser tests run the same stages (without the local files) around a scratch database.
The stand-in (`devslack`, its own extra) is imported only inside the functions that use it, so
importing this module never loads it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.flow import BLOCK_DURATION, FAILED_ATTEMPT_WINDOW, MAX_FAILED_ATTEMPTS
from bot.i18n import catalogue
from bot.settings import NMBRS_CALLBACK_PATH, Settings
from bot.transports.slack.http import HEALTH_PATH, SLACK_EVENTS_PATH
from payroll.nmbrs_rest.sandbox import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_SUBSCRIPTION_KEY,
    FINE_LOGIN,
    MANY_COMPANIES_LOGIN,
    MASTER_LOGIN,
    NARROW_LOGIN,
    NO_COMPANIES_LOGIN,
    TWO_DEBTORS_LOGIN,
    run_rest_sandbox,
)
from payroll.nmbrs_rest.sandbox import SandboxHandle as RestSandboxHandle
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    MANY_COMPANIES_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxHandle,
    run_sandbox,
)
from storage.crypto import generate_key
from storage.db import upgrade

if TYPE_CHECKING:
    from devslack import DevSlack

LOCAL_ENV_FILE = Path(".env.local")
DEMO_DATABASE_URL = "sqlite:///./demo.db"
DEMO_HOST = "127.0.0.1"
# Where the Slack stand-in listens when the port is free (a free one is picked otherwise).
STAND_IN_PORT = 3030
# The stand-in's group of account managers (devslack.workspace.default_workspace).
STAND_IN_MANAGER_GROUP = "S0MANAGERS"
# The guide names the bot's Dutch labels, as the demo's people see them.
NL = catalogue("nl")

# Values `serve` requires that the demo fills in when unset; recognisably examples.
EXAMPLE_SETTINGS = {
    "terms_url": "https://example.com/algemene-voorwaarden",
    "terms_url_en": "https://example.com/general-terms",
    "support_phone": "+31 20 000 0000 (example)",
}

# Which Nmbrs API the demo's new onboardings link through unless chosen (`demo --nmbrs-api`,
# `make demo NMBRS_API=soap`). Both sandboxes run either way.
DEMO_NMBRS_API = "rest"
NMBRS_APIS = ("rest", "soap")

# The 5,000 companies have Dutch business names (payroll.sandbox_names): what to type to see some.
TYPE_AHEAD_HINT = '5,000 companies: type "bakkerij", "jansen zwolle" or a number such as 4999'

# The fake Nmbrs' logins on its login page, one per case (payroll.nmbrs_rest.sandbox
# demo_logins()), in the order the guide lists them.
REST_LOGINS = (
    (FINE_LOGIN, "fine: approves everything, 5 companies"),
    (NARROW_LOGIN, "narrower scopes: leaves contracts and documents out of its consent"),
    (TWO_DEBTORS_LOGIN, "two debtors: consents for both, companies listed per debtor"),
    (NO_COMPANIES_LOGIN, "no companies: a klant login without a company filter"),
    (MANY_COMPANIES_LOGIN, TYPE_AHEAD_HINT),
    (MASTER_LOGIN, "an accountant's master login: Nmbrs refuses it"),
)

# The SOAP sandbox logins worth trying, besides the demo login (see
# payroll.nmbrs_soap.sandbox.demo_accounts()).
OTHER_LOGINS = (
    (MANY_COMPANIES_USERNAME, TYPE_AHEAD_HINT),
    (PERMISSIONS_OFF_USERNAME, "3 permissions switched off: the bot says which to switch on"),
)


class Demo:
    """The demo being set up: the settings so far, what each stage did, the local servers."""

    def __init__(
        self,
        stack: ExitStack,
        *,
        stand_in_port: int = STAND_IN_PORT,
        nmbrs_api: str | None = None,
        **base: Any,
    ):
        if nmbrs_api is not None and nmbrs_api not in NMBRS_APIS:
            raise ValueError(f"nmbrs_api must be one of {', '.join(NMBRS_APIS)}, not {nmbrs_api!r}")
        self.stack = stack
        self.stand_in_port = stand_in_port
        self.nmbrs_api = nmbrs_api or DEMO_NMBRS_API
        self.messages: list[str] = []
        self.nmbrs: SandboxHandle | None = None
        self.nmbrs_rest: RestSandboxHandle | None = None
        self.slack: DevSlack | None = None
        self._base = base
        self._supplied: dict[str, Any] = {}
        self.settings = Settings(**base)

    def supply(self, message: str | None = None, **settings: Any) -> None:
        self._supplied.update(settings)
        self.settings = Settings(**{**self._base, **self._supplied})
        if message:
            self.messages.append(message)

    @property
    def bot_url(self) -> str:
        """The bot's own loopback address: where the stand-in and the browser reach it."""
        return f"http://{DEMO_HOST}:{self.settings.port}"

    @property
    def bot_events_url(self) -> str:
        return f"{self.bot_url}/slack/events"

    @property
    def open_url(self) -> str:
        """The stand-in's page, as the account manager in the shared channel."""
        from devslack.workspace import MANAGER, SHARED_CHANNEL

        assert self.slack is not None, "the Slack stand-in is not running"
        return f"{self.slack.url}/?as={MANAGER}&in={SHARED_CHANNEL}"


DemoStage = Callable[[Demo], None]


def keep_in_local_env(name: str, value: str) -> None:
    """Append NAME=value to the git-ignored .env.local, which is created readable by its owner
    only; Settings reads it on the next run."""
    existing = LOCAL_ENV_FILE.read_text(encoding="utf-8") if LOCAL_ENV_FILE.exists() else ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    descriptor = os.open(LOCAL_ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as env_file:
        env_file.write(f"{separator}{name}={value}\n")


def local_encryption_key(demo: Demo) -> None:
    """Keep a generated key in the git-ignored .env.local unless ENCRYPTION_KEYS is set."""
    if demo.settings.encryption_key_list:
        return
    key = generate_key()
    keep_in_local_env("ENCRYPTION_KEYS", key)
    demo.supply(
        f"generated an encryption key and kept it in {LOCAL_ENV_FILE} (git-ignored)",
        encryption_keys=key,
    )


def local_signing_secret(demo: Demo) -> None:
    """The Slack stand-in signs its requests with a secret of this machine, generated on the first
    run and kept in .env.local, unless SLACK_SIGNING_SECRET is set: a published one would let
    anyone who can reach the bot's port forge Slack's requests (an app_uninstalled halts it)."""
    if demo.settings.slack_signing_secret.get_secret_value():
        return
    secret = secrets.token_hex(32)
    keep_in_local_env("SLACK_SIGNING_SECRET", secret)
    demo.supply(
        f"generated the stand-in's signing secret and kept it in {LOCAL_ENV_FILE} (git-ignored)",
        slack_signing_secret=secret,
    )


def local_database(demo: Demo) -> None:
    """A SQLite file of its own (git-ignored), whatever DATABASE_URL says."""
    demo.supply(f"database: {DEMO_DATABASE_URL} (git-ignored)", database_url=DEMO_DATABASE_URL)


def current_schema(demo: Demo) -> None:
    upgrade(demo.settings.database_url)


def example_settings(demo: Demo) -> None:
    """Fill in the required non-secret settings that are not configured, as examples."""
    filled = {
        name: value for name, value in EXAMPLE_SETTINGS.items() if not getattr(demo.settings, name)
    }
    if filled:
        shown = ", ".join(f"{name.upper()}={value}" for name, value in filled.items())
        demo.supply(f"example values: {shown}", **filled)


def nmbrs_sandbox(demo: Demo) -> None:
    """The embedded Nmbrs SOAP sandbox with its demo accounts, on a free port."""
    demo.nmbrs = demo.stack.enter_context(run_sandbox())
    demo.supply(
        f"Nmbrs SOAP sandbox with its demo accounts: {demo.nmbrs.base_url}",
        nmbrs_base_url=demo.nmbrs.base_url,
    )


def nmbrs_rest_sandbox(demo: Demo) -> None:
    """The fake Nmbrs identity service and REST API on a free port, with the demo app
    registered: its client, secret and subscription key, and the bot's callback on the bot's own
    loopback address (PUBLIC_URL) as the redirect URI. Runs after `bot_port` (the address needs
    the port)."""
    public_url = demo.bot_url
    redirect_uri = public_url + NMBRS_CALLBACK_PATH
    demo.nmbrs_rest = demo.stack.enter_context(run_rest_sandbox(redirect_uris=[redirect_uri]))
    demo.supply(
        f"Nmbrs REST sandbox (identity service and API): {demo.nmbrs_rest.base_url}, "
        f"redirecting to {redirect_uri}",
        nmbrs_rest_url=demo.nmbrs_rest.base_url,
        nmbrs_identity_url=demo.nmbrs_rest.base_url,
        nmbrs_client_id=DEMO_CLIENT_ID,
        nmbrs_client_secret=DEMO_CLIENT_SECRET,
        nmbrs_subscription_key=DEMO_SUBSCRIPTION_KEY,
        public_url=public_url,
    )


def nmbrs_api(demo: Demo) -> None:
    """New onboardings link through the API chosen (`demo --nmbrs-api`), DEMO_NMBRS_API else."""
    shown = {"rest": "the REST API (consent in the browser)", "soap": "the SOAP API (token)"}
    other = "soap" if demo.nmbrs_api == "rest" else "rest"
    demo.supply(
        f"new onboardings link through {shown[demo.nmbrs_api]} "
        f"(the other: `make demo NMBRS_API={other}`)",
        nmbrs_api=demo.nmbrs_api,
    )


def bot_port(demo: Demo) -> None:
    """Only the stand-in talks to the bot, so any free port will do when PORT is taken."""
    if port_is_free(demo.settings.port):
        return
    taken, port = demo.settings.port, free_port()
    demo.supply(f"port {taken} is taken; the bot listens on {port} instead", port=port)


def slack_stand_in(demo: Demo) -> None:
    """The local Slack (devslack) with every Slack setting pointing at it. It signs with
    SLACK_SIGNING_SECRET (local_signing_secret's), else with one made for this run."""
    from devslack import run_devslack
    from devslack.workspace import STATUS_CHANNEL

    wanted = demo.stand_in_port
    port = wanted if wanted and port_is_free(wanted) else 0
    signing_secret = demo.settings.slack_signing_secret.get_secret_value() or secrets.token_hex(32)
    demo.slack = demo.stack.enter_context(
        run_devslack(
            host=DEMO_HOST,
            port=port,
            events_url=demo.bot_events_url,
            signing_secret=signing_secret,
        )
    )
    quiet = StandInTrafficFilter(demo.bot_events_url)
    for name in StandInTrafficFilter.LOGGERS:
        logging.getLogger(name).addFilter(quiet)
        demo.stack.callback(logging.getLogger(name).removeFilter, quiet)
    demo.supply(
        f"Slack stand-in: {demo.slack.url}, sending Slack's requests to {demo.bot_events_url} "
        f"(its bot token is an example; status channel {STATUS_CHANNEL})",
        slack_bot_token=demo.slack.bot_token,
        slack_signing_secret=demo.slack.signing_secret,
        slack_api_url=demo.slack.api_url,
        status_channel=STATUS_CHANNEL,
        account_manager_group=STAND_IN_MANAGER_GROUP,
    )


class StandInTrafficFilter(logging.Filter):
    """Keeps the stand-in's own traffic out of the log: uvicorn's access log is shared by every
    server in the process (only the bot's lines stay), and httpx logs each request the stand-in
    sends to the bot, which the bot's access log shows already."""

    LOGGERS = ("uvicorn.access", "httpx")
    # The bot's own paths: Slack's, the health check and the consent's pages (/nmbrs/start,
    # /nmbrs/callback), whose query strings `serve`'s access log leaves out.
    BOT_PATHS = (SLACK_EVENTS_PATH, HEALTH_PATH, NMBRS_CALLBACK_PATH.rsplit("/", 1)[0] + "/")

    def __init__(self, bot_events_url: str):
        super().__init__()
        self.bot_events_url = bot_events_url

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "httpx":
            return self.bot_events_url not in record.getMessage()
        args = record.args
        if not isinstance(args, tuple) or len(args) < 3:
            return True
        return str(args[2]).startswith(self.BOT_PATHS)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((DEMO_HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((DEMO_HOST, 0))
        return int(probe.getsockname()[1])


DEMO_STAGES: list[DemoStage] = [
    local_encryption_key,
    local_signing_secret,
    local_database,
    current_schema,
    example_settings,
    nmbrs_sandbox,
    bot_port,
    nmbrs_rest_sandbox,
    nmbrs_api,
    slack_stand_in,
]


def prepare_demo(
    stack: ExitStack,
    stages: list[DemoStage] = DEMO_STAGES,
    *,
    stand_in_port: int = STAND_IN_PORT,
    nmbrs_api: str | None = None,
    **base: Any,
) -> Demo:
    """Run the stages in order on settings starting from `base` (Settings' own arguments);
    the local servers stay up until `stack` closes. The stand-in takes `stand_in_port` when it
    is free, else (or with 0) any free port. `nmbrs_api` ("rest" or "soap") is the API new
    onboardings link through (DEMO_NMBRS_API when None)."""
    demo = Demo(stack, stand_in_port=stand_in_port, nmbrs_api=nmbrs_api, **base)
    for stage in stages:
        stage(demo)
    return demo


def guide(demo: Demo) -> list[str]:
    """What to open, who to be and what to type, for the person trying the demo."""
    from devslack.workspace import CUSTOMER, MANAGER, SHARED_CHANNEL, STATUS_CHANNEL

    assert demo.slack is not None
    people = demo.slack.workspace.users
    manager, customer = people[MANAGER], people[CUSTOMER]
    channel = demo.slack.workspace.channels[SHARED_CHANNEL].name
    status = demo.slack.workspace.channels[STATUS_CHANNEL].name
    lines = [
        f"Open {demo.open_url}",
        f"  1. As {manager.real_name} (account manager) type /onboard in #{channel} "
        f"and fill in the form ({NL.text('manager.start.language_label')}: "
        f"{NL.text('manager.start.language_en')} for an English client).",
        f"  2. Switch to {customer.real_name} (the customer, external) and press Start.",
        *(_rest_steps(demo) if demo.nmbrs_api == "rest" else _soap_steps(demo)),
        f"  4. Status reports appear in #{status}; the link afterwards in "
        f"`DATABASE_URL={demo.settings.database_url} .venv/bin/onboard-bot links list`.",
        f"     As {manager.real_name}: /onboard status lists the open onboardings; the App Home "
        "(Onboarding · Home) resends, cancels, lifts a block and unlinks.",
        "Press Ctrl-C to stop.",
    ]
    return lines


def _rest_steps(demo: Demo) -> list[str]:
    lines = [
        "  3. Accept the terms, choose Nmbrs, read how to prepare it and press "
        '"Log in bij Nmbrs": the fake Nmbrs opens in a new tab. Pick a login and approve:',
    ]
    assert demo.nmbrs_rest is not None
    width = max(len(email) for email, _ in REST_LOGINS)
    for email, what in REST_LOGINS:
        if email in demo.nmbrs_rest.state.logins:
            lines.append(f"       {email:<{width}}  {what}")
    lines.append("     (The SOAP logins: `make demo NMBRS_API=soap`.)")
    return lines


def _soap_steps(demo: Demo) -> list[str]:
    lines = [
        "  3. Accept the terms, choose Nmbrs and log in with the demo account:",
        f"       username {DEMO_USERNAME}",
        f"       token    {DEMO_TOKEN}",
        "     Other logins to try:",
    ]
    assert demo.nmbrs is not None
    for username, what in OTHER_LOGINS:
        lines.append(f"       {username} / {demo.nmbrs.accounts[username].token}  ({what})")
    lines.append(
        f"     Any other token is refused; {MAX_FAILED_ATTEMPTS} wrong ones within "
        f"{_minutes(FAILED_ATTEMPT_WINDOW)} block the onboarding for {_minutes(BLOCK_DURATION)} "
        "(the App Home lifts the block)."
    )
    lines.append("     (The REST API's consent in the browser: `make demo NMBRS_API=rest`.)")
    return lines


def _minutes(duration: timedelta) -> str:
    return f"{int(duration.total_seconds()) // 60} minutes"
