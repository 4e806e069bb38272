"""`onboard-bot`: serve the bot, run the demo, and look after its database, keys and links.

Failures the user can fix (missing settings, an old schema, an unknown link) end with one
`error: ...` line per problem on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.core.access import EVERY_FULL_MEMBER
from bot.core.payroll import NMBRS_SOAP
from bot.settings import Settings
from payroll.nmbrs_soap.cli import app as nmbrs_app
from storage.crypto import EncryptionKeyError, TokenCipher, UndecryptableToken, generate_key
from storage.db import make_engine, schema_status, upgrade
from storage.links import link_state, link_summary
from storage.repository import LinkSummary, NotFound, SqlUnitOfWork

if TYPE_CHECKING:
    from bot.bootstrap import Container

app = typer.Typer(
    name="onboard-bot",
    help="Nmbrs payroll onboarding as a Slack conversation.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for stored Nmbrs tokens.", no_args_is_help=True)
links_app = typer.Typer(help="Payroll links made by completed onboardings.", no_args_is_help=True)
outbox_app = typer.Typer(help="The outbox of messages to Slack.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(links_app, name="links")
app.add_typer(outbox_app, name="outbox")
app.add_typer(nmbrs_app, name="nmbrs")

# What each setting `serve` may require is for, so the error says where to find it.
SETTING_HINTS = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-...), Slack app > OAuth & Permissions",
    "SLACK_SIGNING_SECRET": "Slack app > Basic Information > App Credentials > Signing Secret",
    "SLACK_APP_TOKEN": "an app-level token (xapp-...) with connections:write, for Socket Mode",
    "ENCRYPTION_KEYS": "comma-separated Fernet keys, newest first; `onboard-bot keys generate`",
    "STATUS_CHANNEL": "the id (C...) of the channel that receives status reports",
    "TERMS_URL": "the link to the general terms the customer accepts",
    "SUPPORT_PHONE": "the phone number for customers whose package is not listed",
    "ACCOUNT_MANAGER_GROUP": (
        "the id (S...) of the Slack user group of the account managers, or * to make every full "
        "member of our workspace one"
    ),
}

CLI_ACTOR = "cli"
logger = logging.getLogger(__name__)


def fail(*lines: str) -> NoReturn:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(1)


def describe_invalid_setting(problem: Any) -> str:
    message = str(problem["msg"]).removeprefix("Value error, ")
    names = ".".join(str(part) for part in problem["loc"]).upper()
    return f"{names}: {message}" if names else message


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        fail(*(describe_invalid_setting(problem) for problem in error.errors()))


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def describe(error: SQLAlchemyError) -> str:
    """The driver's own first line (no SQL, no parameters)."""
    cause = getattr(error, "orig", None) or error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


def open_current_database(settings: Settings) -> Engine:
    """An engine on a reachable database at the newest schema revision, or a clear exit."""
    engine = make_engine(settings.database_url)
    try:
        status = schema_status(engine)
    except SQLAlchemyError as error:
        engine.dispose()
        fail(f"cannot reach the database {shown_url(settings.database_url)}: {describe(error)}")
    if not status.is_current:
        engine.dispose()
        fail(
            f"the database schema is at revision {status.current or 'none'}, this version needs "
            f"{status.newest}: run `onboard-bot db upgrade`"
        )
    return engine


def load_cipher(settings: Settings) -> TokenCipher:
    try:
        return TokenCipher(settings.encryption_key_list)
    except EncryptionKeyError as error:
        fail(str(error))


# -- serve and demo ---------------------------------------------------------------------------


@app.command()
def serve(
    socket_mode: Annotated[
        bool,
        typer.Option("--socket-mode", help="Connect to Slack over a WebSocket (no public URL)."),
    ] = False,
    port: Annotated[int | None, typer.Option(help="HTTP port (default: PORT).")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="HTTP processes sharing the port, one per core (PostgreSQL only)."
        ),
    ] = 1,
) -> None:
    """Serve the bot: POST /slack/events and GET /healthz, or Socket Mode."""
    run_server(load_settings(), socket_mode=socket_mode, host=host, port=port, workers=workers)


def run_server(
    settings: Settings, *, socket_mode: bool, host: str, port: int | None, workers: int = 1
) -> None:
    missing = settings.missing_for_serve(socket_mode=socket_mode)
    if missing:
        fail(*(f"{name} is not set ({SETTING_HINTS.get(name, 'required')})" for name in missing))
    if workers > 1 and (
        socket_mode or make_url(settings.database_url).get_backend_name() != "postgresql"
    ):
        fail("--workers above 1 needs HTTP mode on PostgreSQL (SQLite has one writer at a time)")
    load_cipher(settings)
    open_current_database(settings).dispose()
    from bot.logs import configure_logging
    from bot.serving import limit_malloc_arenas, raise_open_file_limit

    limit_malloc_arenas()  # before the threads start
    raise_open_file_limit()  # a connection per file: the soft limit is often 1024
    configure_logging(settings.log_format)
    logger.info(manager_rule(settings))
    if workers > 1:
        exit_code = serve_in_processes(
            settings, host=host, port=port or settings.port, workers=workers
        )
        raise typer.Exit(exit_code)

    # Imported on use, so the other commands start without loading bolt.
    from bot.bootstrap import build_container

    if socket_mode:
        container = build_container(settings)
        try:
            asyncio.run(run_socket_mode(container))
        finally:
            container.close()
        return
    with serving_container(settings) as container:
        asyncio.run(run_http(container, host=host, port=port or settings.port))


@contextlib.contextmanager
def serving_container(settings: Settings) -> Iterator[Container]:
    """The served process's container, its use cases in a use-case process of their own
    (bot.use_case_process), which runs as long as the block."""
    from bot.bootstrap import build_container, use_case_process

    use_cases = use_case_process(settings)
    use_cases.start()
    container = build_container(settings)
    container.use_cases = use_cases
    try:
        yield container
    finally:
        use_cases.stop()
        container.close()


def manager_rule(settings: Settings) -> str:
    """Who the account managers are, said at start-up."""
    if settings.account_manager_group == EVERY_FULL_MEMBER:
        return "account managers: every full member of our workspace (ACCOUNT_MANAGER_GROUP=*)"
    return (
        f"account managers: the members of Slack user group {settings.account_manager_group} "
        "(ACCOUNT_MANAGER_GROUP)"
    )


async def run_http(
    container: Container, *, host: str, port: int, listener: socket.socket | None = None
) -> None:
    """uvicorn on the ASGI app, with the outbox worker and the scheduler beside it."""
    import uvicorn

    from bot.bootstrap import background_work, create_asgi_app_for
    from bot.schedule import running_in_background
    from bot.serving import MemoryTrimmer, uvicorn_config

    server = uvicorn.Server(uvicorn_config(create_asgi_app_for(container), host=host, port=port))
    trimmer = MemoryTrimmer(lambda: server.server_state.total_requests)
    # What start-up built (bolt, zeep's WSDLs, SQLAlchemy) lives as long as the process: keep it
    # out of the garbage collector's full passes, which otherwise stall requests for ~50-100 ms.
    gc.freeze()
    # With a use-case process, the background work runs there.
    work = [] if container.use_cases else background_work(container)
    async with running_in_background([*work, trimmer.run]):
        await server.serve(sockets=[listener] if listener else None)


def serve_in_processes(settings: Settings, *, host: str, port: int, workers: int) -> int:
    """`workers` forked processes, each a whole bot (its own engine, event loop, outbox worker
    and scheduler, which claim their work in the database) accepting on one shared socket, kept
    running by a bot.workers.WorkerPool: a worker that dies is started again (with a back-off
    when it dies soon after starting). SIGTERM or Ctrl-C stops them all (exit code 0); a
    worker's crash loop stops them all too, with exit code 1 for the process manager."""
    from bot.serving import LISTEN_BACKLOG
    from bot.workers import SERVE_STOPPED, WorkerPool

    listener = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
    listener.set_inheritable(True)  # kept open here: a restarted worker inherits it
    forking = multiprocessing.get_context("fork")
    pool = WorkerPool(
        lambda name: forking.Process(target=_serve_child, args=(settings, listener), name=name),
        workers,
    )
    signal.signal(signal.SIGTERM, lambda _signal, _frame: pool.stop())
    try:
        return pool.run()
    except KeyboardInterrupt:  # the workers got the Ctrl-C too and are stopping
        pool.join()
        return SERVE_STOPPED
    finally:
        listener.close()


def _serve_child(settings: Settings, listener: socket.socket) -> None:

    # Not the pool's handler, forked with it: until uvicorn installs its own, SIGTERM just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    host, port = listener.getsockname()[:2]
    with serving_container(settings) as container:
        asyncio.run(run_http(container, host=host, port=port, listener=listener))


async def run_socket_mode(container: Container) -> None:
    """Slack over a WebSocket, with the outbox worker and the scheduler beside it."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.bootstrap import background_work, slack_app
    from bot.schedule import running_in_background

    app_token = container.settings.slack_app_token.get_secret_value()
    handler = AsyncSocketModeHandler(slack_app(container), app_token)
    async with running_in_background(background_work(container)):
        await handler.start_async()


class NmbrsApi(StrEnum):
    rest = "rest"
    soap = "soap"


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="HTTP port of the bot (default: PORT).")] = None,
    nmbrs_api: Annotated[
        NmbrsApi | None,
        typer.Option(
            "--nmbrs-api",
            envvar="NMBRS_API",
            help="The Nmbrs API new onboardings link through: rest (the customer approves in "
            "the browser) or soap (a pasted username and token); unset, the demo's own choice. "
            "Both sandboxes run either way.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run everything locally with no configuration: SQLite, the Nmbrs sandboxes (SOAP and
    REST), a Slack stand-in in the browser and the bot (what `make demo` does). Ctrl-C stops
    it all."""
    from bot.demo import DEMO_HOST, guide, prepare_demo

    with ExitStack() as stack:
        chosen = nmbrs_api.value if nmbrs_api else None
        running = prepare_demo(stack, nmbrs_api=chosen, **({"port": port} if port else {}))
        for message in running.messages:
            typer.echo(f"demo: {message}")
        typer.echo("\n".join(["", *guide(running), ""]))
        with suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has stopped; close the rest
            run_server(running.settings, socket_mode=False, host=DEMO_HOST, port=None)
    typer.echo("demo: stopped")


# -- db -----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    settings = load_settings()
    try:
        upgrade(settings.database_url)
    except SQLAlchemyError as error:
        fail(f"cannot upgrade {shown_url(settings.database_url)}: {describe(error)}")
    engine = make_engine(settings.database_url)
    status = schema_status(engine)
    engine.dispose()
    typer.echo(f"database {shown_url(settings.database_url)} is at revision {status.current}")


@db_app.command("revision")
def db_revision(
    message: str = typer.Argument(..., help="What changed in storage/models.py."),
) -> None:
    """Write a new migration from the difference between the models and the newest revision
    (for developers; review the file it writes)."""
    from storage.migrations.new import new_revision

    if new_revision(message):
        typer.echo("revision written to storage/migrations/versions/: review it")
    else:
        typer.echo("models and migrations agree: no revision written")


# -- keys ---------------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new encryption key."""
    typer.echo(generate_key())
    typer.echo(
        "Put it first in ENCRYPTION_KEYS (newest first, comma-separated), restart, "
        "then run `onboard-bot keys rotate`.",
        err=True,
    )


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored token with the newest key (the first in ENCRYPTION_KEYS)."""
    settings = load_settings()
    cipher = load_cipher(settings)
    engine = open_current_database(settings)
    try:
        with SqlUnitOfWork(engine, cipher) as uow:
            rotated = uow.rotate_tokens()
            uow.commit()
    except UndecryptableToken as error:
        fail(f"{error}; nothing was changed")
    finally:
        engine.dispose()
    typer.echo(
        f"tokens re-encrypted with the newest key: {rotated}; "
        "older keys can leave ENCRYPTION_KEYS once every instance runs with the new list"
    )


# -- outbox -------------------------------------------------------------------------------------


@outbox_app.command("resume")
def outbox_resume() -> None:
    """Lift a delivery halt (after app_uninstalled or tokens_revoked): the waiting messages go
    out again. Reinstall the app first; with a new bot token, `serve` lifts it by itself."""
    settings = load_settings()
    load_cipher(settings)
    open_current_database(settings).dispose()

    from bot.bootstrap import build_container

    container = build_container(settings)
    try:
        lifted = container.delivery.resume(actor=CLI_ACTOR)
    finally:
        container.close()
    if not lifted:
        typer.echo("delivery was not halted; nothing changed")
        return
    for halt in lifted:
        typer.echo(
            f"lifted the halt of {halt.since.isoformat()} ({halt.reason} for team {halt.team_id})"
        )
    typer.echo("delivery resumed: the waiting messages go out while `onboard-bot serve` runs")


# -- links --------------------------------------------------------------------------------------


def company_id(provider: str, ref: str | int) -> int | None:
    """A linked company's `id` in the JSON: the SOAP int id; None for the REST API, whose
    companyId is the `guid`."""
    return int(ref) if provider == NMBRS_SOAP else None


def company_guid(provider: str, ref: str | int, guid: str | None) -> str | None:
    """A linked company's `guid` in the JSON: the SOAP converter's GUID; the REST companyId."""
    return guid if provider == NMBRS_SOAP else (guid or str(ref))


def company_as_json(provider: str, company: Any) -> dict[str, Any]:
    return {
        "id": company_id(provider, company.provider_company_ref),
        "guid": company_guid(provider, company.provider_company_ref, company.guid),
        "number": company.number,
        "name": company.name,
    }


def where_linked(provider: str, environment: dict[str, Any]) -> dict[str, Any]:
    """Where a link's data lives: the SOAP subdomain (`domain`), or the debtors a REST consent
    spans (`debtor_ids`, which the REST provider keeps as the link's environment)."""
    if provider == NMBRS_SOAP:
        return {"domain": environment.get("domain"), "debtor_ids": None}
    debtors = str(environment.get("domain") or "")
    return {"domain": None, "debtor_ids": [d for d in debtors.split(",") if d]}


def link_as_json(summary: LinkSummary) -> dict[str, Any]:
    """The documented shape of one link (README, `links list`); never a token, code or secret."""
    link = summary.link
    return {
        "id": link.id,
        "client": summary.client.name,
        "channel": summary.client.conversation_id,
        "provider": link.provider,
        "username": link.account_label,
        **where_linked(link.provider, link.environment),
        "created_at": link.created_at.isoformat(),
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
        "companies": [company_as_json(link.provider, company) for company in summary.companies],
    }


def login_shown(details: dict[str, Any]) -> str:
    """The login and where it lives, for the plain `links list` and `links show`."""
    if details["provider"] == NMBRS_SOAP:
        return f"{details['username']}@{details['domain']}"
    debtors = len(details["debtor_ids"] or [])
    return f"{details['username']} (REST API, debtors: {debtors})"


@links_app.command("list")
def links_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array, one object per link.")
    ] = False,
) -> None:
    """Every link, unlinked ones included."""
    engine = open_current_database(load_settings())
    try:
        with SqlUnitOfWork(engine, None) as uow:
            summaries = uow.links.list_summaries()
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([link_as_json(summary) for summary in summaries], ensure_ascii=False))
        return
    if not summaries:
        typer.echo("no links yet")
        return
    for summary in summaries:
        link = summary.link
        status = f"unlinked {link.revoked_at:%Y-%m-%d %H:%M} UTC" if link.revoked_at else "active"
        companies = ", ".join(f"{c.number} {c.name}" for c in summary.companies) or "no companies"
        typer.echo(
            f"{link.id}  {summary.client.name} ({summary.client.conversation_id})  "
            f"{login_shown(link_as_json(summary))}  "
            f"linked {link.created_at:%Y-%m-%d}  {status}  "
            f"[{companies}]"
        )


@links_app.command("unlink")
def links_unlink(
    link_id: Annotated[int, typer.Argument(metavar="ID", help="The link's id.")],
) -> None:
    """Erase a link's token and any relink in progress, audit it and report it in the status
    channel."""
    settings = load_settings()
    missing = [
        name
        for name in ("ENCRYPTION_KEYS", "STATUS_CHANNEL")
        if not getattr(settings, name.lower())
    ]
    if missing:
        fail(*(f"{name} is not set ({SETTING_HINTS[name]})" for name in missing))
    load_cipher(settings)
    open_current_database(settings).dispose()

    from bot.bootstrap import build_container

    container = build_container(settings)
    try:
        # The account manager's use case: the App Home's Unlink button does the same.
        unlinked = container.manager.unlink(link_id, manager=CLI_ACTOR)
    except NotFound:
        fail(f"no link with id {link_id} (see `onboard-bot links list`)")
    finally:
        container.close()
    if unlinked is None:
        typer.echo(f"link {link_id} was already unlinked; nothing changed")
        return
    if unlinked.revocation_failed:
        typer.echo(
            f"could not revoke the grant of link {link_id} at Nmbrs (unreachable); it is erased "
            "here all the same: the customer can revoke the app in Nmbrs"
        )
    client_name = unlinked.client_name
    typer.echo(
        f"unlinked link {link_id} of {client_name}: token erased, audited, "
        "status report queued for the status channel"
    )


# What `links verify` exits with: every link checked works; some need relinking; Nmbrs could
# not be reached for some (and none need relinking). Clear of the CLI framework's own 1 and 2.
VERIFY_ALL_WORKING = 0
VERIFY_NEEDS_RELINK = 3
VERIFY_UNAVAILABLE = 5


def link_details_as_json(summary: LinkSummary) -> dict[str, Any]:
    """`link_as_json` with the link's state, last verification and problem; never the token."""
    link = summary.link
    return {
        **link_as_json(summary),
        "status": link_state(link),
        "verified_at": link.verified_at.isoformat() if link.verified_at else None,
        "problem": _problem_as_json(link.provider, link.problem),
    }


def _problem_as_json(provider: str, problem: dict[str, Any] | None) -> dict[str, Any] | None:
    if not problem or "companies_gone" not in problem:
        return problem
    gone = [
        {
            **c,
            "id": company_id(provider, c["id"]),
            "guid": company_guid(provider, c["id"], c.get("guid")),
        }
        for c in problem["companies_gone"]
    ]
    return {**problem, "companies_gone": gone}


@links_app.command("show")
def links_show(
    link_id: Annotated[int, typer.Argument(metavar="ID", help="The link's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """One link: client, login, state, last verification and companies (never the token)."""
    engine = open_current_database(load_settings())
    try:
        with SqlUnitOfWork(engine, None) as uow:
            summary = link_summary(uow, link_id)
    except NotFound:
        fail(f"no link with id {link_id} (see `onboard-bot links list`)")
    finally:
        engine.dispose()
    details = link_details_as_json(summary)
    if as_json:
        typer.echo(json.dumps(details, ensure_ascii=False))
        return
    problem = details["problem"] or {}
    state = details["status"]
    if state == "needs_relink":
        state += f" since {problem.get('since', '?')}: {problem.get('reason', '?')}"
        state += "".join(f"\n    off: {p}" for p in problem.get("missing_permissions", []))
        state += "".join(
            f"\n    gone: {c['number']} {c['name']}" for c in problem.get("companies_gone", [])
        )
    elif state == "unlinked":
        state += f" on {details['revoked_at']}"
    typer.echo(f"link {link_id}: {details['client']} ({details['channel']})")
    typer.echo(f"  state: {state}")
    typer.echo(f"  login: {login_shown(details)} ({details['provider']})")
    typer.echo(
        f"  linked: {details['created_at']}; last verified: {details['verified_at'] or 'never'}"
    )
    typer.echo(f"  companies ({len(details['companies'])}):")
    for company in details["companies"]:
        typer.echo(
            f"    {company['number']} {company['name']} (id {company['id']}, {company['guid']})"
        )


@links_app.command("verify")
def links_verify(
    link_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The link's id (or --all).")
    ] = None,
    every_link: Annotated[
        bool, typer.Option("--all", help="Every link that is not unlinked.")
    ] = False,
) -> None:
    """Re-run the credential and permission check at Nmbrs; a link that no longer works is
    marked needs_relink and reported (status channel, client channel) once. Exit code 0: all
    work; 3: some need relinking; 5: Nmbrs could not be reached for some."""
    if (link_id is None) == (not every_link):
        fail("give one link's ID or --all")
    settings = load_settings()
    load_cipher(settings)
    open_current_database(settings).dispose()

    from bot.bootstrap import build_container

    container = build_container(settings)
    try:
        if every_link:
            results = container.link_maintenance.verify_all(actor=CLI_ACTOR)
        else:
            results = [container.link_maintenance.verify(link_id, actor=CLI_ACTOR)]
    except NotFound:
        fail(f"no link with id {link_id} (see `onboard-bot links list`)")
    finally:
        container.close()
    for result in results:
        line = f"link {result.link_id} ({result.client_name}): {result.outcome}"
        if result.reason:
            line += f" ({result.reason})"
        if result.reported:
            line += "; reported"
        typer.echo(line)
    if not results:
        typer.echo("no links to verify")
    outcomes = {result.outcome for result in results}
    if "needs_relink" in outcomes:
        raise typer.Exit(VERIFY_NEEDS_RELINK)
    if "unavailable" in outcomes:
        raise typer.Exit(VERIFY_UNAVAILABLE)


@links_app.command("migrate")
def links_migrate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be asked; change nothing.")
    ] = False,
) -> None:
    """Ask the channel of every active SOAP link to move it to the Nmbrs REST API before the
    SOAP API ends: a message with the relink button, which opens the relink by consent. A link
    asked before is not asked again. Needs the REST API configured (a dry run warns). Exit code
    0; 1 when it is not configured."""
    settings = load_settings()
    # Without the REST API a relink asks for a SOAP token again: the link would not move.
    missing = [f"{name} is not set (the Nmbrs REST API)" for name in settings.missing_for_rest()]
    if missing and not dry_run:
        fail(*missing, "a relink only moves a link to the REST API once that is configured")
    for line in missing:
        typer.echo(f"warning: {line}", err=True)
    load_cipher(settings)
    open_current_database(settings).dispose()

    from bot.bootstrap import build_container

    container = build_container(settings)
    try:
        migration = container.link_migration
        requests = migration.request_moves(dry_run=dry_run, actor=CLI_ACTOR)
        status = migration.status()
    finally:
        container.close()
    for request in requests:
        if request.asked_before:
            what = "asked before; not asked again"
        elif dry_run:
            what = "would ask to move to the REST API"
        else:
            what = "asked to move to the REST API (message queued)"
        typer.echo(
            f"link {request.link_id} ({request.client_name}, {request.channel_id}, "
            f"{request.companies} companies): {what}"
        )
    if not requests:
        typer.echo("no active SOAP links to move")
    ends_on = status.soap_ends_on.isoformat()
    if status.ended:
        typer.echo(
            f"{status.on_rest} of {status.total} links on the REST API; "
            f"the SOAP API ended on {ends_on}"
        )
    else:
        typer.echo(
            f"{status.on_rest} of {status.total} links on the REST API; "
            f"{status.days_left} days until the SOAP API ends on {ends_on}"
        )
