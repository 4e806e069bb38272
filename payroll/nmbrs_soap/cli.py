"""`onboard-bot nmbrs ...`: check a username and token against Nmbrs, or run the local sandbox."""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.core.payroll import (
    PermissionsMissing,
    ProviderError,
    ProviderUnavailable,
    WrongCredentials,
)
from bot.settings import Settings
from payroll.nmbrs_soap.model import AccountCheck, Credentials

if TYPE_CHECKING:
    from payroll.nmbrs_soap.client import SoapNmbrsClient

# Kept clear of the CLI framework's own 1 (error) and 2 (usage).
EXIT_OK = 0
EXIT_WRONG_CREDENTIALS = 3
EXIT_PERMISSIONS_MISSING = 4
EXIT_UNAVAILABLE = 5
EXIT_REFUSED = 6

SANDBOX_PORT = 8089

app = typer.Typer(
    name="nmbrs",
    help="Nmbrs: check a username and API token, or run the local SOAP sandbox.",
    no_args_is_help=True,
)


def check_report(client: SoapNmbrsClient, credentials: Credentials) -> tuple[dict[str, Any], int]:
    """The JSON object `nmbrs check` prints and its exit code (see design.md)."""
    try:
        result = client.check_account(credentials)
    except ProviderError as error:
        return _report(None, error), _exit_code(error)
    if result.missing_permissions:
        error = PermissionsMissing(result.missing_permissions)
        return _report(result, error), EXIT_PERMISSIONS_MISSING
    return _report(result, None), EXIT_OK


def _exit_code(error: ProviderError) -> int:
    if isinstance(error, WrongCredentials):
        return EXIT_WRONG_CREDENTIALS
    if isinstance(error, PermissionsMissing):
        return EXIT_PERMISSIONS_MISSING
    if isinstance(error, ProviderUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


def _report(result: AccountCheck | None, error: ProviderError | None) -> dict[str, Any]:
    return {
        "ok": error is None,
        "domain": result.environment.domain if result else None,
        "companies": [
            {"id": c.id, "number": c.number, "name": c.name, "guid": c.guid}
            for c in (result.companies if result else [])
        ],
        "missing_permissions": result.missing_permissions if result else [],
        "error": None if error is None else {"code": error.code, "message": str(error)},
    }


# `--token -`: the token is the first line of standard input.
TOKEN_FROM_STDIN = "-"
TOKEN_ON_COMMAND_LINE_WARNING = (
    "warning: a token given as --token VALUE is visible to other users of this machine (ps) and "
    "stays in the shell history; leave --token out to be asked for it, or pass --token - to "
    "read it from standard input"
)


def read_token(given: str | None) -> str:
    """The token from a hidden prompt (no --token), standard input (--token -), or the command
    line (--token VALUE, which still works for scripts but warns on stderr)."""
    if given is None:
        token = str(typer.prompt("Nmbrs API token", hide_input=True, err=True))
    elif given == TOKEN_FROM_STDIN:
        token = typer.get_text_stream("stdin").readline()
    else:
        typer.echo(TOKEN_ON_COMMAND_LINE_WARNING, err=True)
        token = given
    if not token.strip():
        raise typer.BadParameter("no token given", param_hint="--token")
    return token.strip()


@app.command()
def check(
    username: Annotated[str, typer.Option(help="The Nmbrs username (an e-mail address).")],
    token: Annotated[
        str | None,
        typer.Option(
            help="The API token of that user; never printed. Left out: asked for without echo; "
            "'-': read from standard input; a value on the command line shows in ps and the "
            "shell history (a warning says so).",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Scheme and host of the SOAP API; default NMBRS_BASE_URL."),
    ] = None,
) -> None:
    """Check credentials, list the companies and name the switched-off permissions, as JSON.

    Exit codes: 0 all fine; 3 wrong credentials; 4 permissions missing; 5 Nmbrs unreachable or
    failing; 6 Nmbrs refuses for another reason (no API subscription, no access, domain)."""
    # Imported here: `onboard-bot serve` imports this command group, and needs no zeep for it.
    from payroll.nmbrs_soap.client import SoapNmbrsClient, normalize_base_url

    settings = Settings()
    try:
        url = normalize_base_url(base_url or settings.nmbrs_base_url)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--base-url") from None
    secret = read_token(token)
    client = SoapNmbrsClient(
        url,
        connect_timeout=settings.nmbrs_connect_timeout,
        read_timeout=settings.nmbrs_read_timeout,
    )
    try:
        report, exit_code = check_report(client, Credentials(username.strip(), secret))
    finally:
        client.close()
    typer.echo(json.dumps(report, ensure_ascii=False))
    raise typer.Exit(exit_code)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = (
        SANDBOX_PORT
    ),
    latency: Annotated[float, typer.Option(help="Seconds added to every call.")] = 0.0,
) -> None:
    """Run the embedded Nmbrs SOAP v3 sandbox until Ctrl-C, with the demo accounts."""
    # Started in the background by a shell or a test runner, a process inherits an ignored
    # SIGINT and Python then installs no Ctrl-C handler; the sandbox must stop on it all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from payroll.nmbrs_soap.sandbox import run_sandbox

    with run_sandbox(port=port, latency=latency) as handle:
        typer.echo(f"Nmbrs SOAP v3 sandbox on {handle.base_url}")
        typer.echo(f"  NMBRS_BASE_URL={handle.base_url}")
        typer.echo("Accounts (username / token: what it shows):")
        for account in handle.accounts:
            typer.echo(f"  {account.username} / {account.token}: {account.description}")
        typer.echo("Ctrl-C stops it.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            typer.echo("Sandbox stopped.")
