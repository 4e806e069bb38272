"""Listeners per Slack surface; each module has `register(app, container)`.

- commands: `/onboard` and its modals (account managers)
- events: the App Home and workspace events
- actions: the customer's Start button and the buttons in the onboarding modals
- views: the onboarding modals' submissions and closes
- options: the company type-ahead
- links: after the link: relink, change companies, stop and remove, and their modals
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack.listeners import actions, commands, events, links, options, views

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.bootstrap import Container

SURFACES = (commands, events, actions, views, options, links)


def register_listeners(app: AsyncApp, container: Container) -> None:
    for surface in SURFACES:
        surface.register(app, container)
