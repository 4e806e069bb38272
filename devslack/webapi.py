"""The Web API at `SLACK_API_URL`: Slack's methods, JSON and errors; every call is recorded."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devslack.world import SlackError, World

logger = logging.getLogger(__name__)

JSON_ARGUMENTS = ("blocks", "view", "attachments", "metadata")


def _flag(args: dict, name: str) -> bool:
    return str(args.get(name, "")).lower() in ("1", "true")


def _methods(world: World) -> dict[str, Callable[[dict], dict]]:
    bot = world.workspace
    return {
        "api.test": lambda args: {"args": args},
        "auth.test": lambda args: {
            "url": f"{world.public_url}/",
            "team": bot.teams[bot.home_team].name,
            "user": bot.users[bot.bot_user].name,
            "team_id": bot.home_team,
            "user_id": bot.bot_user,
            "bot_id": bot.bot_id,
            "is_enterprise_install": False,
        },
        "chat.postMessage": world.post_message,
        "chat.update": world.update_message,
        "chat.postEphemeral": world.post_ephemeral,
        "chat.delete": world.delete_message,
        "chat.getPermalink": lambda args: {
            "channel": args.get("channel"),
            "permalink": f"{world.public_url}/archives/{args.get('channel')}/"
            f"p{str(args.get('message_ts', '')).replace('.', '')}",
        },
        "views.open": world.open_view,
        "views.push": world.push_view,
        "views.update": world.update_view,
        "views.publish": world.publish_home,
        "users.info": lambda args: {
            "user": world.user_info(
                str(args.get("user", "")), include_locale=_flag(args, "include_locale")
            )
        },
        "conversations.info": lambda args: {
            "channel": world.channel_info(
                str(args.get("channel", "")), include_num_members=_flag(args, "include_num_members")
            )
        },
        "conversations.members": lambda args: world.channel_members(
            str(args.get("channel", "")),
            str(args.get("cursor") or ""),
            int(args.get("limit") or 100),
        ),
        "conversations.open": _open_conversation(world),
        "conversations.history": world.history,
        "team.info": lambda args: {"team": world.team_info(args.get("team"))},
        "usergroups.users.list": lambda args: {
            "users": world.usergroup_users(str(args.get("usergroup", "")))
        },
    }


def _open_conversation(world: World) -> Callable[[dict], dict]:
    def open_conversation(args: dict) -> dict:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("not_enough_users" if not users else "too_many_users")
        existed = ("D" + users[0][1:]) in world.workspace.channels
        channel = world.dm_channel(users[0])
        answer: dict[str, Any] = {"channel": {"id": channel.id}}
        if existed:
            answer.update(no_op=True, already_open=True)
        return answer

    return open_conversation


async def _arguments(request: Request) -> dict:
    args: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            raw = await request.body()
            if raw:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise SlackError("invalid_form_data")
                args.update(body)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            args.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        elif content_type:
            raise SlackError("invalid_post_type")
    for name in JSON_ARGUMENTS:
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name]) if args[name] else None
            except json.JSONDecodeError:
                raise SlackError(
                    "invalid_arguments", [f"[ERROR] {name} is not valid JSON"]
                ) from None
    return args


def _token(request: Request, args: dict) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return str(args.pop("token", "") or "")


def api_routes(world: World) -> list[Route]:
    methods = _methods(world)

    async def call(request: Request) -> JSONResponse:
        name = request.path_params["method"]
        status, headers = 200, {}
        try:
            args = await _arguments(request)
        except (SlackError, json.JSONDecodeError, UnicodeDecodeError) as error:
            args = {}
            body = (
                error.body()
                if isinstance(error, SlackError)
                else {"ok": False, "error": "invalid_json"}
            )
            world.record(name, args, status, body)
            return JSONResponse(body, status_code=status)
        token = _token(request, args)
        args.pop("token", None)
        fault = world.take_fault(name)
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        if name not in methods:
            body = {"ok": False, "error": "unknown_method"}
        elif not token:
            body = {"ok": False, "error": "not_authed"}
        elif token != world.bot_token:
            body = {"ok": False, "error": "invalid_auth"}
        elif fault and fault.status == 429:
            status = 429
            headers["Retry-After"] = str(fault.retry_after or 1)
            body = {"ok": False, "error": "ratelimited"}
        elif fault and fault.status >= 500:
            status = fault.status
            body = {"ok": False, "error": "fatal_error"}
        elif fault and fault.error:
            body = {"ok": False, "error": fault.error}
        else:
            try:
                body = {"ok": True, **methods[name](args)}
            except SlackError as error:
                body = error.body()
        if not body["ok"]:
            logger.info("fake Slack %s -> %s", name, body.get("error"))
        world.record(name, args, status, body)
        return JSONResponse(body, status_code=status, headers=headers)

    async def respond(request: Request) -> JSONResponse:
        raw = await request.body()
        # Faults for "response_url" apply here as to a method: late, 429 or 5xx (not applied).
        fault = world.take_fault("response_url")
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault and (fault.status == 429 or fault.status >= 500):
            headers = {"Retry-After": str(fault.retry_after or 1)} if fault.status == 429 else {}
            world.record("response_url", {}, fault.status, {"ok": False})
            return JSONResponse({"ok": False}, status_code=fault.status, headers=headers)
        try:
            payload = json.loads(raw or b"{}")
            world.respond(request.path_params["token"], payload)
        except SlackError as error:
            world.record("response_url", {}, 404, error.body())
            return JSONResponse(error.body(), status_code=404)
        world.record("response_url", payload, 200, {"ok": True})
        return JSONResponse({"ok": True})

    return [
        Route("/api/{method}", call, methods=["GET", "POST"]),
        Route("/response/{token}", respond, methods=["POST"]),
    ]
