"""Listeners for the customer's modal submissions and closes.

Each acks within Slack's 3 s: with inline errors, with the next screen when the step calls no
Nmbrs (terms, preparation, over-access: run before the ack), or with a working view while
Nmbrs is asked; see bot.transports.slack.answers for how the answer reaches the person.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import clean_token
from bot.transports.slack.answers import actor_from, keep_draft, view_for
from bot.transports.slack.forms import (
    chosen_company_ids,
    companies_errors,
    credentials_errors,
    terms_errors,
)
from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.modal_routines import submit_step
from bot.transports.slack.views.onboarding import (
    ACTION_PACKAGE,
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_OVER_ACCESS,
    CALLBACK_PREPARATION,
    CALLBACK_TERMS,
    DRAFT_CALLBACKS,
    WORKING_CHECKING,
    WORKING_LINKING,
    WORKING_MOMENT,
)

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    service = services.onboarding
    signer = MetadataSigner(services.metadata_secret)

    submit = functools.partial(
        submit_step, signer=signer, view_of=functools.partial(view_for, signer=signer)
    )

    @app.view(CALLBACK_TERMS)
    async def submit_terms(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=terms_errors,
            step=lambda ref, actor, form: service.accept_terms(
                ref, actor, accepted=True, package=form.value(ACTION_PACKAGE)
            ),
            working_kind=WORKING_MOMENT,
            quick=True,
        )

    @app.view(CALLBACK_PREPARATION)
    async def submit_preparation(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=None,
            step=lambda ref, actor, form: service.acknowledge_preparation(ref, actor),
            working_kind=WORKING_MOMENT,
            quick=True,
        )

    @app.view(CALLBACK_CREDENTIALS)
    async def submit_credentials(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=credentials_errors,
            step=lambda ref, actor, form: service.submit_credentials(
                ref,
                actor,
                username=form.value(ACTION_USERNAME, "").strip(),
                token=clean_token(form.value(ACTION_TOKEN, "")),
            ),
            working_kind=WORKING_CHECKING,
            quick=False,
        )

    @app.view(CALLBACK_COMPANIES)
    async def submit_companies(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=companies_errors,
            step=lambda ref, actor, form: service.choose_companies(
                ref, actor, chosen_company_ids(form)
            ),
            working_kind=WORKING_LINKING,
            quick=False,
        )

    @app.view(CALLBACK_OVER_ACCESS)
    async def confirm_over_access(ack: AsyncAck, body: dict, client: AsyncWebClient) -> None:
        await submit(
            ack,
            body,
            client,
            validate=None,
            step=lambda ref, actor, form: service.confirm_over_access(ref, actor),
            working_kind=WORKING_LINKING,
            quick=True,
        )

    for callback_id in DRAFT_CALLBACKS:

        @app.view_closed(callback_id)
        async def closed(ack: AsyncAck, body: dict) -> None:
            await ack()
            view = body["view"]
            metadata = signer.verify(view.get("private_metadata"))
            if metadata is not None:
                await keep_draft(service, metadata.ref.onboarding_id, actor_from(body), view)
