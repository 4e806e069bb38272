"""Listeners for a link after the onboarding (use cases in bot.usecases.link_service).

- Buttons in the client's channel: Relink (on the relink request) and Change companies open a
  modal at once (a trigger lives 3 s) and fill it after the ack; Stop and Remove link (behind a
  confirm dialog) act, redraw the invite message and answer the person ephemerally.
- The relink and company modals: submissions ack within 3 s (inline errors, the next screen, or
  a working view replaced when Nmbrs has answered); their buttons and the type-ahead.

Their private_metadata is signed with a key of its own, so a link modal's metadata is never
accepted by the onboarding's listeners, nor the other way round.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import Actor, clean_token
from bot.core.screens import Outcome
from bot.i18n import DEFAULT_LANGUAGE, resolve_language
from bot.transports.slack.answers import (
    actor_from,
    run_blocking,
)
from bot.transports.slack.forms import (
    chosen_link_company_ids,
    credentials_errors,
    link_companies_errors,
)
from bot.transports.slack.invites import refresh_invite
from bot.transports.slack.metadata import LINK_MODALS, MetadataSigner
from bot.transports.slack.modal_routines import (
    open_modal,
    press_modal_button,
    submit_step,
    suggest_companies,
)
from bot.transports.slack.views.links import (
    ACTION_CHANGE_COMPANIES,
    ACTION_LINK_BACK,
    ACTION_LINK_CHECK_AGAIN,
    ACTION_LINK_COMPANY_SEARCH,
    ACTION_LINK_OTHER_LOGIN,
    ACTION_RELINK,
    ACTION_RELINK_HERE,
    ACTION_REMOVE_LINK,
    ACTION_STOP,
    CALLBACK_LINK_COMPANIES,
    CALLBACK_LINK_CREDENTIALS,
    CALLBACK_LINK_OVER_ACCESS,
    answer_text,
    link_view,
    parse_button_value,
)
from bot.transports.slack.views.onboarding import (
    ACTION_TOKEN,
    ACTION_USERNAME,
    WORKING_CHECKING,
    WORKING_LINKING,
    WORKING_MOMENT,
)
from bot.usecases.customer_exit import ALREADY_ENDED, StopResult

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    service = services.links
    signer = MetadataSigner(services.metadata_secret, purpose=LINK_MODALS)

    def view_of(outcome: Outcome) -> dict[str, Any]:
        metadata = signer.sign(outcome.ref, outcome.language) if outcome.ref else None
        return link_view(outcome, private_metadata=metadata)

    # --- buttons in the client's channel ------------------------------------------------------

    async def open_link_modal(
        body: dict[str, Any], client: AsyncWebClient, use_case: Callable[[int, Actor], Outcome]
    ) -> None:
        parsed = parse_button_value(body["actions"][0].get("value", ""))
        language = resolve_language(parsed[1] if parsed else DEFAULT_LANGUAGE)
        actor = actor_from(body, from_channel=True)
        await open_modal(
            client,
            trigger_id=body["trigger_id"],
            language=language,
            actor=actor,
            onboarding_id=parsed[0] if parsed else None,
            use_case=use_case,
            view_of=view_of,
            not_opened=lambda: answer(client, actor, language, "failed"),
        )

    async def act(
        body: dict[str, Any],
        client: AsyncWebClient,
        use_case: Callable[[int, Actor], StopResult],
    ) -> None:
        parsed = parse_button_value(body["actions"][0].get("value", ""))
        language = resolve_language(parsed[1] if parsed else DEFAULT_LANGUAGE)
        actor = actor_from(body, from_channel=True)
        if parsed is None:
            await answer(client, actor, language, ALREADY_ENDED)
            return
        try:
            result = await run_blocking(use_case, parsed[0], actor)
        except Exception:
            logger.exception("%s failed", getattr(use_case, "__name__", use_case))
            await answer(client, actor, language, "failed")
            return
        await refresh_invite(client, result.invite)
        await answer(client, actor, result.language, result.kind)

    async def answer(client: AsyncWebClient, actor: Actor, language: str, kind: str) -> None:
        if actor.channel_id is None:
            return
        try:
            await client.chat_postEphemeral(
                channel=actor.channel_id, user=actor.user_id, text=answer_text(language, kind)
            )
        except SlackApiError as error:
            logger.info("could not answer %s: %s", actor.user_id, error.response.get("error"))

    @app.action(ACTION_RELINK)
    async def relink(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_link_modal(body, client, service.open_relink)

    @app.action(ACTION_CHANGE_COMPANIES)
    async def change_companies(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_link_modal(body, client, service.open_companies)

    @app.action(ACTION_STOP)
    async def stop(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await act(body, client, service.stop_onboarding)

    @app.action(ACTION_REMOVE_LINK)
    async def remove(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await act(body, client, service.remove_link)

    # --- buttons in the modals ----------------------------------------------------------------

    modal_button = functools.partial(press_modal_button, signer=signer, view_of=view_of)

    @app.action(ACTION_RELINK_HERE)
    async def relink_here(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(
            body,
            client,
            use_case=lambda ref, actor: service.open_relink(ref.onboarding_id, actor),
            working_kind=WORKING_MOMENT,
        )

    @app.action(ACTION_LINK_CHECK_AGAIN)
    async def check_again(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(
            body, client, use_case=service.check_again, working_kind=WORKING_CHECKING
        )

    @app.action(ACTION_LINK_OTHER_LOGIN)
    async def other_login(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(body, client, use_case=service.other_login, working_kind=WORKING_MOMENT)

    @app.action(ACTION_LINK_BACK)
    async def back(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await modal_button(
            body, client, use_case=service.back_to_choice, working_kind=WORKING_MOMENT
        )

    # --- submissions --------------------------------------------------------------------------

    submit = functools.partial(submit_step, signer=signer, view_of=view_of)

    @app.view(CALLBACK_LINK_CREDENTIALS)
    async def submit_credentials(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=credentials_errors,
            step=lambda ref, actor, form: service.submit_relink(
                ref,
                actor,
                username=form.value(ACTION_USERNAME, "").strip(),
                token=clean_token(form.value(ACTION_TOKEN, "")),
            ),
            working_kind=WORKING_CHECKING,
            quick=False,
        )

    @app.view(CALLBACK_LINK_COMPANIES)
    async def submit_companies(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=link_companies_errors,
            step=lambda ref, actor, form: service.choose_companies(
                ref, actor, chosen_link_company_ids(form)
            ),
            working_kind=WORKING_LINKING,
            quick=False,
        )

    @app.view(CALLBACK_LINK_OVER_ACCESS)
    async def confirm_over_access(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=None,
            step=lambda ref, actor, form: service.confirm_companies(ref, actor),
            working_kind=WORKING_LINKING,
            quick=True,
        )

    @app.options(ACTION_LINK_COMPANY_SEARCH)
    async def suggest(ack: AsyncAck, body: dict[str, Any]) -> None:
        await suggest_companies(
            ack,
            body,
            signer=signer,
            suggest=service.suggest_companies,
        )
