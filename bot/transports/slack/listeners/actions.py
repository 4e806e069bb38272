"""Listeners for the customer's button clicks: Start in the channel, and the buttons in modals."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import Actor
from bot.core.screens import Instructions, Outcome
from bot.i18n import DEFAULT_LANGUAGE, resolve_language
from bot.transports.slack.answers import (
    actor_from,
    is_retry,
    keep_draft,
    view_for,
)
from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.modal_routines import open_modal, press_modal_button, push_screen
from bot.transports.slack.views.invite import ACTION_START, parse_start_value
from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_CHOOSE_AGAIN,
    ACTION_CONSENT_AGAIN,
    ACTION_CONSENT_LOGIN,
    ACTION_INSTRUCTIONS,
    ACTION_NARROW_FILTER,
    ACTION_OPEN_NMBRS,
    WORKING_CHECKING,
    not_opened_text,
)

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    service = services.onboarding
    signer = MetadataSigner(services.metadata_secret)
    view_of = functools.partial(view_for, signer=signer)

    async def from_invite(
        body: dict[str, Any],
        client: AsyncWebClient,
        request: AsyncBoltRequest,
        use_case: Callable[[int, Actor], Outcome],
    ) -> None:
        """Open the modal at once (a trigger lives 3 s), then show what `use_case` answers."""
        parsed = parse_start_value(body["actions"][0].get("value", ""))
        language = resolve_language(parsed[1] if parsed else DEFAULT_LANGUAGE)
        actor = actor_from(body, from_channel=True)

        async def not_opened() -> None:
            if not is_retry(request.headers) and actor.channel_id:
                await client.chat_postEphemeral(
                    channel=actor.channel_id, user=actor.user_id, text=not_opened_text(language)
                )

        await open_modal(
            client,
            trigger_id=body["trigger_id"],
            language=language,
            actor=actor,
            onboarding_id=parsed[0] if parsed else None,
            use_case=use_case,
            view_of=view_of,
            not_opened=not_opened,
        )

    @app.action(ACTION_START)
    async def start(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, request: AsyncBoltRequest
    ) -> None:
        """Start or resume: the step reached."""
        await ack()
        await from_invite(body, client, request, service.open)

    modal_button = functools.partial(
        press_modal_button,
        signer=signer,
        view_of=view_of,
        keep=functools.partial(keep_draft, service),  # a click keeps what was picked, as a close
    )

    @app.action(ACTION_CHECK_AGAIN)
    async def check_again(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(
            body, client, use_case=service.check_again, working_kind=WORKING_CHECKING
        )

    @app.action(ACTION_NARROW_FILTER)
    async def narrow_filter(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(body, client, use_case=service.narrow_filter, working_kind=None)

    @app.action(ACTION_CONSENT_AGAIN)
    async def consent_again(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(body, client, use_case=service.consent_again, working_kind=None)

    @app.action(re.compile(f"^{ACTION_INSTRUCTIONS}_"))
    async def show_instructions(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """A part of the preparation (again), on top of the screen it was asked from."""
        await ack()
        try:
            part = Instructions(body["actions"][0].get("value", ""))
        except ValueError:
            logger.warning("refused a click for unknown instructions")
            return
        await push_screen(
            body,
            client,
            signer=signer,
            view_of=view_of,
            use_case=lambda onboarding_id, actor: service.instructions(onboarding_id, actor, part),
        )

    @app.action(ACTION_CHOOSE_AGAIN)
    async def choose_again(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, request: AsyncBoltRequest
    ) -> None:
        """Back to the package choice: from the handoff modal, or from the invite (which opens
        the modal on the terms)."""
        await ack()
        if body.get("view") is None:
            await from_invite(body, client, request, service.choose_package_again)
            return
        await modal_button(
            body,
            client,
            use_case=lambda ref, actor: service.choose_package_again(ref.onboarding_id, actor),
            working_kind=None,
        )

    @app.action(ACTION_CONSENT_LOGIN)
    async def consent_login(ack: AsyncAck) -> None:
        """The consent screen's link button: the browser goes to /nmbrs/start; Slack tells us
        of the click as well, which needs only its ack."""
        await ack()

    @app.action(ACTION_OPEN_NMBRS)
    async def open_nmbrs(ack: AsyncAck) -> None:
        """A link button: Slack opens the page and still tells us about the click."""
        await ack()
