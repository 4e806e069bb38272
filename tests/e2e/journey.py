"""The customer's journey through the served bot, step by step, as the e2e tests walk it."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import Container, build_container, create_asgi_app_for
from bot.core.events import OnboardingEvent
from bot.core.model import InviteStatus
from bot.i18n import LANGUAGES, catalogue
from bot.serving import HeaderTimeoutProtocol
from bot.settings import Settings
from bot.transports.slack.invites import post_invite
from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.onboarding import (
    ACTION_PACKAGE,
    ACTION_TERMS,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_CREDENTIALS,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
    TERMS_ACCEPTED_VALUE,
)
from bot.use_case_process import refuse_on_event_loop
from bot.usecases.steps import retry_on_stale
from devslack import DevSlack, SlackUser, serve_asgi
from devslack.world import View
from storage.models import Onboarding

CHANNEL = "C0SHARED"
BOT_USER = "U0BOT"
CUSTOMER = "U0CUSTOMER"
STRANGER = "U0STRANGER"
MANAGER = "U0MANAGER"
SUPPORT_PHONE = "020 123 45 67"
TERMS_URL = "https://example.com/algemene-voorwaarden"
WORKING_TITLES = {
    catalogue(language).text("customer.modal.title_working") for language in LANGUAGES
}


class PickledCalls:
    """`serve`'s use-case process without the process: the transports' use-case calls go through
    stand-ins that pickle their arguments, answers and exceptions both ways, as the pipe does,
    and refuse a call on the event loop, so that every served test checks that contract; the
    use cases run in the calling thread, with the tests' container (urgent or not)."""

    def component(self, name: str, here: object) -> Any:
        return _PickledComponent(name, here)


class _PickledComponent:
    def __init__(self, name: str, component: Any):
        self._name = name
        self._component = component

    def __getattr__(self, method: str) -> Any:
        function = getattr(self._component, method)

        def pickled(*args: Any, **kwargs: Any) -> Any:
            refuse_on_event_loop(self._name, method)
            args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
            try:
                answer = function(*args, **kwargs)
            except Exception as error:
                raise pickle.loads(pickle.dumps(error)) from None
            return pickle.loads(pickle.dumps(answer))

        return pickled


@dataclass
class ServedBot:
    """The bot as deployed: settings, its container and the served ASGI app, over the HTTP
    protocol `serve` runs."""

    settings: Settings
    slack: DevSlack
    events: list[OnboardingEvent] = field(default_factory=list)
    container: Container | None = None
    # Where it is served (for a browser: the consent's pages).
    url: str = ""
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        self.container = build_container(self.settings)
        self.container.event_bus.subscribe(lambda uow, event: self.events.append(event))
        self.container.use_cases = PickledCalls()
        app = create_asgi_app_for(self.container)
        url = self._stack.enter_context(serve_asgi(app, http=HeaderTimeoutProtocol))
        self.url = url
        self.slack.connect(f"{url}/slack/events")

    def stop(self) -> None:
        self._stack.close()
        if self.container is not None:
            self.container.close()
            self.container = None

    def restart(self) -> None:
        self.stop()
        self._stack = ExitStack()
        self.start()

    @property
    def service(self):
        assert self.container is not None, "the bot is not running"
        return self.container.onboarding

    def invite(self, *, language: str = "nl", client_name: str = "Bakkerij de Vries") -> int:
        """What /onboard does: an onboarding and its invite message in the shared channel.
        One onboarding may be open per channel: one an earlier test left open is closed first
        (without a report, as if it had never been)."""
        container = self.container
        assert container is not None

        def close_the_open_one() -> None:
            with container.unit_of_work() as uow:
                running = uow.onboardings.open_for_channel(CHANNEL)
                if running is not None:
                    running.state = "cancelled"
                    uow.commit()

        # That test's work after its last ack (a draft kept as its modal closed) may still be
        # writing the onboarding: cancel it again when it did.
        retry_on_stale(close_the_open_one, what="the open onboarding an earlier test left")
        status = self.service.create_invite(
            client_name=client_name,
            channel_id=CHANNEL,
            team_id="T0CUSTOMER",
            started_by=MANAGER,
            language=language,
            contact_user_id=CUSTOMER,
        )
        client = AsyncWebClient(token=self.slack.bot_token, base_url=self.slack.api_url)
        posted: InviteStatus = asyncio.run(post_invite(client, self.service, status))
        return posted.onboarding_id

    def onboarding(self, onboarding_id: int) -> Onboarding:
        assert self.container is not None
        with self.container.unit_of_work() as uow:
            return uow.onboardings.require(onboarding_id)

    def link_count(self) -> int:
        assert self.container is not None
        with self.container.unit_of_work() as uow:
            return len(uow.links.list_summaries())

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


def settled(
    person: SlackUser,
    callback_id: str | None = None,
    timeout: float = 10.0,
    *,
    after: View | None = None,
) -> View:
    """The person's modal once the bot has finished working on it. Give `after` (the view the
    person acted on) when the answer may have the same callback id: the ack comes before the bot
    replaces the view, so until then the old one would pass for the answer."""

    def ready(view: View) -> bool:
        if view.title in WORKING_TITLES or (after is not None and view.hash == after.hash):
            return False
        return callback_id is None or view.callback_id == callback_id

    return person.wait_for_modal(ready, timeout=timeout)


def invite_message(person: SlackUser):
    """The bot's invite, as the person sees it in the shared channel."""
    return person.wait_for_message(CHANNEL, lambda message: message.user == BOT_USER)


def invite_says(person: SlackUser, text: str):
    """Wait until the invite message shows `text` (it is redrawn just after each step)."""
    return person.wait_for_message(CHANNEL, lambda message: text in str(message.blocks))


def start(person: SlackUser) -> View:
    """Press Start (or Continue) on the invite in the shared channel: the modal it opens (which
    replaces one still open, such as an error)."""
    before = person.modal
    person.click(invite_message(person), ACTION_START)
    return settled(person, after=before)


def accept_terms(person: SlackUser, package: str = "nmbrs") -> View:
    view = settled(person, CALLBACK_TERMS)
    person.fill(view, {ACTION_TERMS: [TERMS_ACCEPTED_VALUE], ACTION_PACKAGE: package})
    person.submit(view)
    return settled(person)


def prepare(person: SlackUser) -> View:
    person.submit(settled(person, CALLBACK_PREPARATION))
    return settled(person)


def enter_credentials(person: SlackUser, username: str, token: str) -> View:
    view = settled(person, CALLBACK_CREDENTIALS)
    person.fill(view, {ACTION_USERNAME: username, ACTION_TOKEN: token})
    person.submit(view)
    return settled(person)


def to_credentials(person: SlackUser) -> View:
    start(person)
    accept_terms(person)
    return prepare(person)


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def slack_traffic(slack: DevSlack) -> str:
    """Everything the bot sent to Slack: Web API calls and its answers to Slack's requests."""
    calls = [json.dumps({"method": c.method, "args": c.args}) for c in slack.calls()]
    answers = [delivery.response_text for delivery in slack.deliveries]
    return "\n".join(calls + answers)


def eventually(predicate, timeout: float = 5.0, pause: float = 0.02):
    """Wait until `predicate()` is truthy (for effects that land after the ack)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            assert result, "condition not met in time"
            return result
        time.sleep(pause)


def submission_payload(slack: DevSlack, user_id: str, view: View, **changes) -> dict:
    """A view_submission as Slack sends it, for sending twice or by someone else."""
    person = slack.workspace.users[user_id]
    team = slack.workspace.teams[person.team_id]
    body = {**view.as_slack(), **changes}
    return {
        "type": "view_submission",
        "team": {"id": team.id, "domain": team.domain},
        "user": {"id": user_id, "name": person.name, "team_id": person.team_id},
        "api_app_id": slack.workspace.app_id,
        "token": slack.verification_token,
        "trigger_id": slack.world.issue_trigger(user_id),
        "view": body,
        "response_urls": [],
    }
