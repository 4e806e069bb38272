"""The truth of the fake Slack: what the bot showed to whom, and the rules Slack applies to it.

One `World` is shared by the Web API (the bot's side), the driver and the browser (the people's
side). Every mutation happens under one lock and wakes whoever waits for a change. Its parts, each
building on the one before: `core` (lock, clock, calls, faults), `directory` (people and places),
`messages` (timelines) and `views` (modal stacks and App Homes).
"""

from devslack.world.core import Call, ClientRefused, Fault, IncompleteForm, SlackError
from devslack.world.messages import Message
from devslack.world.views import View, WorldViews

__all__ = [
    "Call",
    "ClientRefused",
    "Fault",
    "IncompleteForm",
    "Message",
    "SlackError",
    "View",
    "World",
]


class World(WorldViews):
    """State and rules of the fake Slack; all public methods are thread-safe."""
