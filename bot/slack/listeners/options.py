"""Listener for the company type-ahead (block_suggestion) beyond 100 companies."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.slack.conversation import actor_from, run_blocking
from bot.slack.metadata import MetadataSigner
from bot.slack.views.onboarding import ACTION_COMPANY_SEARCH, company_options

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.bootstrap import Container

logger = logging.getLogger(__name__)

# Slack waits 3 s for options; an answer that is not ready by then is an empty list.
SUGGESTION_TIMEOUT_SECONDS = 2.5


def register(app: AsyncApp, container: Container) -> None:
    service = container.onboarding
    signer = MetadataSigner(container.settings.slack_signing_secret)

    @app.options(ACTION_COMPANY_SEARCH)
    async def suggest_companies(ack: AsyncAck, body: dict[str, Any]) -> None:
        metadata = signer.verify((body.get("view") or {}).get("private_metadata"))
        if metadata is None:
            await ack(options=[])
            return
        try:
            companies = await asyncio.wait_for(
                run_blocking(
                    service.suggest_companies,
                    metadata.ref.onboarding_id,
                    actor_from(body),
                    body.get("value", ""),
                ),
                timeout=SUGGESTION_TIMEOUT_SECONDS,
            )
        except Exception:
            logger.exception("company suggestions failed")
            companies = []
        await ack(options=company_options(metadata.language, companies))
