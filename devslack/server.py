"""Serving the fake Slack over HTTP: its Web API and its page on one uvicorn server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from devslack.handle import DevSlack
from devslack.ui import ui_routes
from devslack.webapi import api_routes
from devslack.workspace import BOT_TOKEN, SIGNING_SECRET, Workspace, default_workspace
from devslack.world import World


def create_app(slack: DevSlack) -> Starlette:
    """The Web API for the bot and the browser page for people, on one server."""
    return Starlette(routes=api_routes(slack.world) + ui_routes(slack))


@contextmanager
def serve_asgi(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, http: Any = "auto"
) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread; yields its base URL. `http` is
    uvicorn's HTTP protocol (a name or a class)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{id(server)}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the ASGI server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def run_devslack(
    workspace: Workspace | None = None,
    *,
    bot_token: str = BOT_TOKEN,
    signing_secret: str = SIGNING_SECRET,
    events_url: str | None = None,
    ack_timeout: float = 3.0,
    trigger_lifetime: float = 3.0,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[DevSlack]:
    """A fake Slack served over HTTP for as long as the block runs.

    Give the bot `slack.api_url` as SLACK_API_URL, `slack.bot_token` and `slack.signing_secret`;
    then `slack.connect(<bot base URL>/slack/events)` and act through `slack.user(id)`."""
    world = World(
        workspace or default_workspace(), bot_token=bot_token, trigger_lifetime=trigger_lifetime
    )
    slack = DevSlack(world, signing_secret=signing_secret, ack_timeout=ack_timeout)
    with serve_asgi(create_app(slack), host=host, port=port) as url:
        world.public_url = slack.url = url
        if events_url:
            slack.connect(events_url)
        try:
            yield slack
        finally:
            slack.close()
