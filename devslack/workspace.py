"""Who exists in the fake Slack: teams, people, channels and the bot, seeded with the shared ids."""

from __future__ import annotations

from dataclasses import dataclass, field

OUR_TEAM = "T0OURS"
CUSTOMER_TEAM = "T0CUSTOMER"
MANAGER = "U0MANAGER"
CUSTOMER = "U0CUSTOMER"
STRANGER = "U0STRANGER"
SHARED_CHANNEL = "C0SHARED"
STATUS_CHANNEL = "C0STATUS"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0DEVSLACK"
BOT_TOKEN = "xoxb-devslack-bot-token"
SIGNING_SECRET = "devslack-signing-secret"
VERIFICATION_TOKEN = "devslack-verification-token"


@dataclass
class Team:
    id: str
    name: str
    domain: str


@dataclass
class User:
    id: str
    team_id: str
    name: str
    real_name: str
    locale: str = "nl-NL"
    tz: str = "Europe/Amsterdam"
    is_bot: bool = False
    is_admin: bool = False
    is_restricted: bool = False
    is_stranger: bool = False


@dataclass
class Channel:
    id: str
    name: str
    members: list[str]
    context_team_id: str = OUR_TEAM
    shared_team_ids: list[str] = field(default_factory=list)
    is_private: bool = False
    is_im: bool = False

    @property
    def is_ext_shared(self) -> bool:
        return any(team != self.context_team_id for team in self.shared_team_ids)


@dataclass
class Workspace:
    """Everything the fake knows about people and places; the bot's team is `home_team`."""

    teams: dict[str, Team]
    users: dict[str, User]
    channels: dict[str, Channel]
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    home_team: str = OUR_TEAM
    bot_user: str = BOT_USER
    bot_id: str = BOT_ID
    app_id: str = APP_ID

    def is_external(self, user_id: str) -> bool:
        return self.users[user_id].team_id != self.home_team

    def add_user(self, user: User) -> User:
        self.users[user.id] = user
        return user

    def add_channel(self, channel: Channel) -> Channel:
        self.channels[channel.id] = channel
        return channel


def default_workspace() -> Workspace:
    """The identities every test and the demo share (see notes/contracts.md)."""
    teams = {
        OUR_TEAM: Team(OUR_TEAM, "Payroll Partners", "payroll-partners"),
        CUSTOMER_TEAM: Team(CUSTOMER_TEAM, "Bakkerij de Vries", "bakkerij-de-vries"),
    }
    users = {
        MANAGER: User(MANAGER, OUR_TEAM, "anna", "Anna de Boer", is_admin=True),
        CUSTOMER: User(CUSTOMER, CUSTOMER_TEAM, "jan", "Jan de Vries"),
        STRANGER: User(STRANGER, CUSTOMER_TEAM, "piet", "Piet Vreemd", is_stranger=True),
        BOT_USER: User(BOT_USER, OUR_TEAM, "onboard-bot", "Onboarding", is_bot=True),
    }
    channels = {
        SHARED_CHANNEL: Channel(
            SHARED_CHANNEL,
            "bakkerij-de-vries-payroll",
            [MANAGER, CUSTOMER, BOT_USER],
            shared_team_ids=[OUR_TEAM, CUSTOMER_TEAM],
        ),
        STATUS_CHANNEL: Channel(
            STATUS_CHANNEL, "onboarding-status", [MANAGER, BOT_USER], shared_team_ids=[OUR_TEAM]
        ),
    }
    return Workspace(
        teams=teams, users=users, channels=channels, usergroups={"S0MANAGERS": [MANAGER]}
    )
