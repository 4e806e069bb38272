"""The browser page: people see what the bot showed them and act on it through the same driver.

The page polls `/ui/state` (long-polling on the fake's change counter) and posts every act to
`/ui/...`, which runs the matching `SlackUser` method, so the browser and the tests take one path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from devslack.blockkit import state_of
from devslack.driver import DeliveryFailed, SlackUser
from devslack.handle import DevSlack
from devslack.world import ClientRefused, Message, SlackError, View

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "blocks.js": "text/javascript",
}
LONG_POLL_SECONDS = 20.0


def _person(slack: DevSlack, user_id: str) -> dict:
    workspace = slack.workspace
    user = workspace.users[user_id]
    team = workspace.teams[user.team_id]
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.real_name,
        "team_id": user.team_id,
        "team_name": team.name,
        "external": user.team_id != workspace.home_team,
        "is_bot": user.is_bot,
    }


def _message(slack: DevSlack, message: Message) -> dict:
    author = slack.workspace.users.get(message.user)
    return {
        "ts": message.ts,
        "user": message.user,
        "author": author.real_name if author else message.user,
        "is_bot": bool(message.bot_id),
        "external": bool(author and author.team_id != slack.workspace.home_team),
        "text": message.text,
        "blocks": message.blocks,
        "ephemeral": message.is_ephemeral,
        "edited": message.edited_ts is not None,
        "thread_ts": message.thread_ts,
        "broadcast": message.reply_broadcast,
        "state": state_of(message.blocks, message.entered),
    }


def _view(view: View | None, depth: int = 0) -> dict | None:
    if view is None:
        return None
    return {
        "id": view.id,
        "hash": view.hash,
        "type": view.type,
        "title": view.title,
        "submit": (view.body.get("submit") or {}).get("text"),
        "close": (view.body.get("close") or {}).get("text"),
        "blocks": view.blocks,
        "errors": view.errors,
        "client_error": view.client_error,
        "state": view.state_values(),
        "depth": depth,
    }


def snapshot(slack: DevSlack, user_id: str, channel_id: str) -> dict:
    """Everything the page shows one person, with the change counter it reflects."""
    world = slack.world
    with world.lock:
        workspace = slack.workspace
        people = [_person(slack, u) for u, user in workspace.users.items() if not user.is_bot]
        channels = [
            {
                "id": c.id,
                "name": c.name,
                "is_ext_shared": c.is_ext_shared,
                "is_member": user_id in c.members,
            }
            for c in workspace.channels.values()
            if not c.is_im
        ]
        dm = "D" + user_id[1:]
        stack = world.stacks.get(user_id, [])
        top = world.views[stack[-1]] if stack else None
        return {
            "version": world.version,
            "connected": slack.connected,
            "workspace": workspace.teams[workspace.home_team].name,
            "app_name": workspace.users[workspace.bot_user].real_name,
            "me": _person(slack, user_id),
            "people": people,
            "channels": channels,
            "dm": dm,
            "channel": channel_id,
            "messages": [
                _message(slack, m)
                for m in world.messages.get(channel_id, [])
                if m.visible_to in (None, user_id)
            ],
            "modal": _view(top, len(stack)),
            "home": _view(world.home(user_id)),
        }


def _surface(slack: DevSlack, spec: dict) -> View | Message:
    if "view" in spec:
        return slack.world.view(spec["view"])
    return slack.world.find_message(spec["channel"], spec["ts"])


def ui_routes(slack: DevSlack) -> list[Route]:
    world = slack.world

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return Response(status_code=404)
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    async def state(request: Request) -> JSONResponse:
        params = request.query_params
        user_id, channel_id = params.get("user", ""), params.get("channel", "")
        people = [u.id for u in slack.workspace.users.values() if not u.is_bot]
        user_id = user_id or people[0]
        if user_id not in slack.workspace.users:
            return JSONResponse({"ok": False, "error": f"unknown user {user_id!r}"}, 404)
        since = int(params.get("since", "-1"))
        waited = 0.0
        while world.version == since and waited < LONG_POLL_SECONDS and not world.closing:
            await asyncio.sleep(0.05)
            waited += 0.05
        return JSONResponse(snapshot(slack, user_id, channel_id))

    def acting(work: Callable[[SlackUser, dict], dict | None]) -> Callable:
        """An endpoint running one act of a person in a worker thread (the driver blocks)."""

        async def endpoint(request: Request) -> JSONResponse:
            body = await request.json()
            person = slack.user(body["user"])
            try:
                result = await run_in_threadpool(work, person, body)
            except (ClientRefused, DeliveryFailed, SlackError, RuntimeError) as error:
                return JSONResponse({"ok": False, "error": str(error)}, status_code=400)
            return JSONResponse({"ok": True, **(result or {})})

        return endpoint

    def send(person: SlackUser, body: dict) -> None:
        text = body["text"].strip()
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            person.command(command, rest.strip(), channel=body["channel"])
        elif text:
            world.post_as_person(person.id, body["channel"], text)

    def act(person: SlackUser, body: dict) -> None:
        surface = _surface(slack, body["surface"])
        person.keep_drafts(surface, body.get("drafts") or {})
        action = f"{body['block_id']}.{body['action_id']}"
        if body["kind"] == "click":
            person.click(surface, action)
        else:
            person.choose(surface, action, body.get("value"))

    def submit(person: SlackUser, body: dict) -> dict:
        view = slack.world.view(body["view"])
        person.keep_drafts(view, body.get("drafts") or {})
        return {"sent": person.submit(view) is not None}

    def close(person: SlackUser, body: dict) -> None:
        person.close(slack.world.view(body["view"]), everything=bool(body.get("everything")))

    def suggest(person: SlackUser, body: dict) -> dict:
        surface = _surface(slack, body["surface"])
        action = f"{body['block_id']}.{body['action_id']}"
        return {"options": person.suggest(surface, action, body.get("query", ""))}

    def open_home(person: SlackUser, body: dict) -> None:
        person.open_home()

    return [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/ui/state", state),
        Route("/ui/send", acting(send), methods=["POST"]),
        Route("/ui/act", acting(act), methods=["POST"]),
        Route("/ui/submit", acting(submit), methods=["POST"]),
        Route("/ui/close", acting(close), methods=["POST"]),
        Route("/ui/suggest", acting(suggest), methods=["POST"]),
        Route("/ui/home", acting(open_home), methods=["POST"]),
    ]
