"""Listener for the company type-ahead (block_suggestion) beyond 100 companies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.modal_routines import suggest_companies
from bot.transports.slack.views.onboarding import ACTION_COMPANY_SEARCH

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    service = services.onboarding
    signer = MetadataSigner(services.metadata_secret)

    @app.options(ACTION_COMPANY_SEARCH)
    async def suggest(ack: AsyncAck, body: dict[str, Any]) -> None:
        await suggest_companies(
            ack,
            body,
            signer=signer,
            suggest=service.suggest_companies,
        )
