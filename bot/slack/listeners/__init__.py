"""Listeners per Slack surface; each module has `register(app, container)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.bootstrap import Container


def register_listeners(app: AsyncApp, container: Container) -> None:
    from bot.slack.listeners import actions, options, views

    for surface in (actions, views, options):
        surface.register(app, container)
