"""The one Settings object. Nothing else in the project reads os.environ."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import date, time
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.access import EVERY_FULL_MEMBER

LANGUAGES = ("nl", "en")

# What `serve` cannot run without, by environment variable name.
REQUIRED_FOR_SERVE = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "ENCRYPTION_KEYS",
    "STATUS_CHANNEL",
    "TERMS_URL",
    "SUPPORT_PHONE",
    "ACCOUNT_MANAGER_GROUP",
)
# What `serve` cannot run without when new links use the Nmbrs REST API (NMBRS_API=rest).
REQUIRED_FOR_REST = (
    "NMBRS_CLIENT_ID",
    "NMBRS_CLIENT_SECRET",
    "NMBRS_SUBSCRIPTION_KEY",
    "PUBLIC_URL",
)
# Where Nmbrs sends the customer's browser back after the consent, under PUBLIC_URL; the
# redirect URI to register in the Nmbrs developer portal.
NMBRS_CALLBACK_PATH = "/nmbrs/callback"
# A Slack user group's id, as usergroups.list and the group's page show it.
USER_GROUP_ID = re.compile(r"S[A-Z0-9]+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(".env", ".env.local"), env_file_encoding="utf-8", extra="ignore"
    )

    # Secrets are SecretStr: repr(settings) and a logged traceback show "**********"; the code
    # that uses one takes `.get_secret_value()` where it hands it on (bot.bootstrap).
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_api_url: str = "https://slack.com/api/"
    # A Web API call not answered in this long fails; 429s and 5xx are retried
    # (bot.transports.slack.retries).
    slack_timeout_seconds: float = Field(default=10.0, gt=0)
    # Left out of repr: a PostgreSQL URL may hold the password.
    database_url: str = Field(default="sqlite:///./onboarding.db", repr=False)
    encryption_keys: SecretStr = SecretStr("")
    # Which Nmbrs API new onboardings link through: "rest" (OAuth consent in the browser) or
    # "soap" (a pasted username and API token), until the SOAP API's end date.
    nmbrs_api: Literal["rest", "soap"] = "rest"
    nmbrs_base_url: str = "https://api.nmbrs.nl"
    # The day Nmbrs switches its SOAP API off (spec: 2027-03-01; the day is of medium
    # confidence, so it is a setting): from then on no SOAP onboarding starts and SOAP links
    # need a relink through the REST API.
    nmbrs_soap_end_date: date = date(2027, 3, 1)
    nmbrs_rest_url: str = "https://api.nmbrsapp.com"
    # Where the preparation screen sends the customer to set Nmbrs up: its login page.
    nmbrs_login_url: str = "https://login.nmbrs.com/"
    nmbrs_identity_url: str = "https://identityservice.nmbrs.com"
    nmbrs_client_id: str = ""
    nmbrs_client_secret: SecretStr = SecretStr("")
    nmbrs_subscription_key: SecretStr = SecretStr("")
    # Ask the consent for `user.info.read`, so the screens name the approving login. Off until
    # Nmbrs confirms it enabled that scope for our client (spec §7.2): asking a scope it has not
    # enabled stops the consent on an "Invalid scope" page.
    nmbrs_ask_user_info: bool = False
    nmbrs_connect_timeout: float = 5.0
    nmbrs_read_timeout: float = 20.0
    # Where the bot is reached from the internet (https; http only on a loopback host): the
    # customer's browser comes to {PUBLIC_URL}/nmbrs/start and Nmbrs sends it back to
    # {PUBLIC_URL}/nmbrs/callback.
    public_url: str = ""
    status_channel: str = ""
    # Who the account managers are: a user group's id (S…), or "*" for every full member of our
    # workspace. Empty (the default) lets nobody in, and `serve` refuses to start.
    account_manager_group: str = ""
    terms_url: str = ""
    # The general terms in English, for English clients; without it they get TERMS_URL.
    terms_url_en: str = ""
    terms_version: str = "1"
    support_phone: str = ""
    # Shown beside the phone and the account manager on the customer's error screens.
    support_email: str = ""
    default_language: str = "nl"
    timezone: str = "Europe/Amsterdam"
    port: int = Field(default=3000, ge=1, le=65535)
    # "text" for a terminal; "json" for one JSON object per line (with the request id) to ship.
    log_format: Literal["text", "json"] = "text"
    # Reminders, expiry and the daily digest; days count in TIMEZONE.
    reminder_first_working_days: int = Field(default=3, ge=1)
    reminder_second_working_days: int = Field(default=7, ge=1)
    expire_after_days: int = Field(default=14, ge=1)
    digest_time: time = time(9, 0)
    working_hours_start: time = time(9, 0)
    working_hours_end: time = time(17, 0)
    dutch_public_holidays: bool = True
    # Outbox delivery to Slack: at most one message per interval per channel.
    outbox_channel_interval_seconds: float = Field(default=1.0, ge=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    # Sent messages are pruned this many days after they went out.
    outbox_retention_days: int = Field(default=14, ge=1)
    scheduler_poll_seconds: float = Field(default=30.0, gt=0)
    # How often the bot token is checked with auth.test (a good answer lifts a delivery halt).
    slack_token_check_minutes: float = Field(default=60.0, gt=0)
    # Links: every link is verified daily at this local time; what cancelled and expired
    # onboardings held is erased this many days after they ended.
    link_verify_time: time = time(6, 0)
    # The type-ahead keeps the company lists of the onboardings being typed in, up to this many
    # MiB in all (5,000 companies take ~0.55 MiB); 0 keeps only the last one.
    company_cache_mib: float = Field(default=32.0, ge=0)
    retention_days: int = Field(default=30, ge=1)

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("account_manager_group")
    @classmethod
    def _user_group_or_everyone(cls, value: str) -> str:
        value = value.strip()
        if value and value != EVERY_FULL_MEMBER and not USER_GROUP_ID.fullmatch(value):
            raise ValueError(
                f"must be a Slack user group id (S followed by capitals and digits, e.g. "
                f"S0123ABCD) or {EVERY_FULL_MEMBER} for every full member of our workspace"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_https(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// address, e.g. https://onboarding.example.nl")
        if parts.query or parts.fragment:
            raise ValueError("must be an address without a query or fragment")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("must use https (plain http only for localhost or 127.0.0.1)")
        return value

    @model_validator(mode="after")
    def _schedule_in_order(self) -> Settings:
        if self.reminder_second_working_days <= self.reminder_first_working_days:
            raise ValueError(
                "REMINDER_SECOND_WORKING_DAYS must be after REMINDER_FIRST_WORKING_DAYS"
            )
        if self.working_hours_end <= self.working_hours_start:
            raise ValueError("WORKING_HOURS_END must be after WORKING_HOURS_START")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"TIMEZONE {self.timezone!r} is not a known time zone") from error
        return self

    @cached_property
    def encryption_key_list(self) -> list[str]:
        """ENCRYPTION_KEYS split on commas, newest first."""
        keys = self.encryption_keys.get_secret_value().split(",")
        return [key.strip() for key in keys if key.strip()]

    def terms_url_for(self, language: str | None) -> str:
        """The general terms for a client of `language`: TERMS_URL_EN for English when set."""
        if language == "en" and self.terms_url_en:
            return self.terms_url_en
        return self.terms_url

    @property
    def nmbrs_redirect_uri(self) -> str:
        """The address Nmbrs sends the browser back to; register it at Nmbrs."""
        return self.public_url + NMBRS_CALLBACK_PATH

    @property
    def rest_configured(self) -> bool:
        """Everything the REST API needs is set (its client, key and our public address)."""
        return not self._missing(REQUIRED_FOR_REST)

    def missing_for_rest(self) -> list[str]:
        """The REST API's settings that are not set."""
        return self._missing(REQUIRED_FOR_REST)

    def missing_for_serve(self, *, socket_mode: bool = False) -> list[str]:
        names = list(REQUIRED_FOR_SERVE)
        if socket_mode:
            names.append("SLACK_APP_TOKEN")
        if self.nmbrs_api == "rest":
            names.extend(REQUIRED_FOR_REST)
        return self._missing(names)

    def _missing(self, names: Iterable[str]) -> list[str]:
        missing = []
        for name in names:
            value = getattr(self, name.lower())
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if not value:
                missing.append(name)
        return missing


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
