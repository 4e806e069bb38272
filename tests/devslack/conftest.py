"""A running fake Slack, a Web API client pointed at it, and a tiny bolt app it drives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from devslack import DevSlack, run_devslack, serve_asgi

CHECKS_MODAL = {
    "type": "modal",
    "callback_id": "start",
    "title": {"type": "plain_text", "text": "Aan de slag"},
    "submit": {"type": "plain_text", "text": "Verder"},
    "notify_on_close": True,
    "private_metadata": "onboarding-7",
    "blocks": [
        {
            "type": "input",
            "block_id": "name",
            "label": {"type": "plain_text", "text": "Naam"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "terms",
            "optional": True,
            "label": {"type": "plain_text", "text": "Voorwaarden"},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": "Akkoord"}, "value": "accepted"}
                ],
            },
        },
        {
            "type": "input",
            "block_id": "company",
            "optional": True,
            "label": {"type": "plain_text", "text": "Bedrijf"},
            "element": {"type": "external_select", "action_id": "value", "min_query_length": 2},
        },
        {
            "type": "actions",
            "block_id": "tools",
            "elements": [
                {
                    "type": "button",
                    "action_id": "check_again",
                    "text": {"type": "plain_text", "text": "Opnieuw"},
                }
            ],
        },
    ],
}

COMPANIES = [f"Bakkerij {n}" for n in ("Noord", "Zuid", "Oost", "West")]


def simple_modal(title: str, text: str = "Klaar") -> dict:
    return {
        "type": "modal",
        "callback_id": title.lower(),
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Sluiten"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


CONNECT_EXTERNAL_ID = "connect-onboarding-7"


def connect_modal(login_url: str) -> dict:
    """A modal the bot updates by its external_id later, with a link button (a `url`)."""
    return {
        "type": "modal",
        "callback_id": "connect",
        "external_id": CONNECT_EXTERNAL_ID,
        "title": {"type": "plain_text", "text": "Verbinden"},
        "close": {"type": "plain_text", "text": "Sluiten"},
        "blocks": [
            {
                "type": "actions",
                "block_id": "connect",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "log_in",
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Log in bij Nmbrs"},
                        "url": login_url,
                        "value": "onboarding-7",
                    }
                ],
            }
        ],
    }


def invite_blocks(status: str) -> list[dict]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": status}},
        {
            "type": "actions",
            "block_id": "invite",
            "elements": [
                {
                    "type": "button",
                    "action_id": "start",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Start"},
                    "value": "onboarding-7",
                },
                {
                    "type": "button",
                    "action_id": "cancel",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Annuleren"},
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Onboarding annuleren?"},
                        "text": {"type": "mrkdwn", "text": "Dit kan niet ongedaan worden."},
                        "confirm": {"type": "plain_text", "text": "Ja, annuleren"},
                        "deny": {"type": "plain_text", "text": "Nee"},
                        "style": "danger",
                    },
                },
            ],
        },
    ]


def build_bolt_app(slack: DevSlack, seen: list[dict], public: list[str] | None = None) -> AsyncApp:
    """The smallest bot that exercises every kind of request the fake sends; `public` holds the
    address it is served at once it is known (for its link buttons)."""
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    app = AsyncApp(client=client, signing_secret=slack.signing_secret)

    @app.command("/onboard")
    async def onboard(ack, body, client, respond):
        seen.append(body)
        if body["text"] == "status":
            await ack(text="Geen open onboardings")
            return
        if body["text"] == "connect":
            await ack()
            login_url = f"{(public or ['http://127.0.0.1'])[0]}/nmbrs/start?t=abc"
            await client.views_open(trigger_id=body["trigger_id"], view=connect_modal(login_url))
            return
        if body["text"] == "announce":
            await ack()
            await respond(text="Onboarding aangekondigd", response_type="in_channel")
            return
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=CHECKS_MODAL)

    @app.action("start")
    async def start(ack, body, client):
        seen.append(body)
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text="Gestart",
            blocks=invite_blocks("Gestart door <@" + body["user"]["id"] + ">"),
        )
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=CHECKS_MODAL)
        except SlackApiError as error:  # a replayed click carries a used trigger_id
            seen.append({"error": error.response["error"]})

    @app.action("cancel")
    async def cancel(ack, body, client):
        seen.append(body)
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text="Geannuleerd", blocks=[]
        )

    @app.action("check_again")
    async def check_again(ack, body, client):
        seen.append(body)
        await ack()
        await client.views_update(
            view_id=body["view"]["id"],
            hash=body["view"]["hash"],
            view=simple_modal("Gecontroleerd"),
        )

    @app.action("log_in")
    async def log_in(ack, body):
        seen.append(body)
        await ack()

    @app.options("value")
    async def companies(ack, body):
        seen.append(body)
        query = body["value"].lower()
        matches = [name for name in COMPANIES if query in name.lower()]
        await ack(
            options=[{"text": {"type": "plain_text", "text": n}, "value": n} for n in matches]
        )

    @app.view("start")
    async def submitted(ack, body):
        seen.append(body)
        values = body["view"]["state"]["values"]
        if not values["terms"]["value"]["selected_options"]:
            await ack(response_action="errors", errors={"terms": "Vink de voorwaarden aan"})
            return
        name = values["name"]["value"]["value"]
        if name in ("push", "update"):
            await ack(response_action=name, view=simple_modal(name.title()))
        elif name == "clear":
            await ack(response_action="clear")
        elif name == "bad":
            await ack(response_action="errors", errors={"nonexistent": "oops"})
        else:
            await ack()

    @app.view_closed("start")
    async def closed(ack, body):
        seen.append(body)
        await ack()

    @app.event("app_home_opened")
    async def home(event, client):
        seen.append(event)
        await client.views_publish(
            user_id=event["user"],
            view={"type": "home", "blocks": [{"type": "divider"}]},
        )

    return app


def asgi(app: AsyncApp) -> Starlette:
    """The bolt app at /slack/events, and a page at /nmbrs/start whose button, like a consent,
    answers the browser and updates the open modal by its external_id."""
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request):
        return await handler.handle(request)

    async def login_page(request: Request):
        return HTMLResponse(
            '<form method="post" action="/nmbrs/approve"><button>Goedkeuren</button></form>'
        )

    async def approve(request: Request):
        await app.client.views_update(
            external_id=CONNECT_EXTERNAL_ID, view=simple_modal("Verbonden", "Gekoppeld")
        )
        return HTMLResponse("<h1>Je kunt terug naar Slack</h1>")

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/nmbrs/start", login_page),
            Route("/nmbrs/approve", approve, methods=["POST"]),
        ]
    )


@pytest.fixture
def slack() -> Iterator[DevSlack]:
    with run_devslack() as running:
        yield running


@pytest.fixture
def web(slack: DevSlack) -> WebClient:
    """slack_sdk's own client, as the bot would use it."""
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


@pytest.fixture
def seen() -> list[dict]:
    """What the tiny bolt app received, in order."""
    return []


@pytest.fixture
def bolt_bot(slack: DevSlack, seen: list[dict]) -> Iterator[str]:
    """The tiny bolt app served over HTTP, with the fake connected to its /slack/events."""
    public: list[str] = []
    with serve_asgi(asgi(build_bolt_app(slack, seen, public))) as url:
        public.append(url)
        slack.connect(f"{url}/slack/events")
        yield url
