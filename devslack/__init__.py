"""A local Slack stand-in: the Web API, the people who click, and (for `make demo`) a browser page.

It plays Slack's part toward the bot exactly as Slack does; nothing in the bot knows it is not
Slack. Start it with `run_devslack()`; see `devslack.handle.DevSlack` for the handle.
"""

from devslack.driver import AckTimeout, Delivery, DeliveryFailed, SlackUser
from devslack.handle import DevSlack
from devslack.server import run_devslack, serve_asgi
from devslack.workspace import Channel, Team, User, Workspace, default_workspace
from devslack.world import Call, ClientRefused, IncompleteForm, Message, SlackError, View

__all__ = [
    "AckTimeout",
    "Call",
    "Channel",
    "ClientRefused",
    "Delivery",
    "DeliveryFailed",
    "DevSlack",
    "IncompleteForm",
    "Message",
    "SlackError",
    "SlackUser",
    "Team",
    "User",
    "View",
    "Workspace",
    "default_workspace",
    "run_devslack",
    "serve_asgi",
]
