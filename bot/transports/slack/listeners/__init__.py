"""Listeners per Slack surface; each module has `register(app, ...)`.

- commands: `/onboard` and its modals (account managers)
- home: the App Home, the account managers' dashboard
- events: workspace events (the app uninstalled, its token revoked)
- actions: the customer's Start button and the buttons in the onboarding modals
- views: the onboarding modals' submissions and closes
- options: the company type-ahead
- links: after the link: relink, change companies, stop and remove, and their modals

The other surfaces get the services; the account manager's two get their shared Slack side
(bot.transports.slack.managers), built here once; events get its directory (who we are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.transports.slack.listeners import actions, commands, events, home, links, options, views
from bot.transports.slack.managers import ManagerSlack

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.services import Services

SERVICE_SURFACES = (actions, views, options, links)
MANAGER_SURFACES = (commands, home)


def register_listeners(app: AsyncApp, services: Services) -> None:
    for surface in SERVICE_SURFACES:
        surface.register(app, services)
    manager = ManagerSlack.build(app.client, services)
    # Whether an uninstall or a revocation is about us: the identity the managers' side reads.
    events.register(app, services, manager.directory)
    for manager_surface in MANAGER_SURFACES:
        manager_surface.register(app, manager)
