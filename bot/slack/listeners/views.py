"""Listeners for the customer's views."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.bootstrap import Container


def register(app: AsyncApp, container: Container) -> None:
    """Registered as the conversation use cases land."""
