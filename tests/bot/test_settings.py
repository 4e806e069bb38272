from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import REQUIRED_FOR_REST, REQUIRED_FOR_SERVE, Settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_defaults_follow_the_design() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./onboarding.db"
    assert settings.nmbrs_base_url == "https://api.nmbrs.nl"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert (settings.default_language, settings.timezone, settings.port) == (
        "nl",
        "Europe/Amsterdam",
        3000,
    )


def test_serve_needs_the_slack_secrets_a_key_the_status_channel_terms_and_phone() -> None:
    assert Settings(nmbrs_api="soap").missing_for_serve() == list(REQUIRED_FOR_SERVE)
    assert set(REQUIRED_FOR_SERVE) == {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "ENCRYPTION_KEYS",
        "STATUS_CHANNEL",
        "TERMS_URL",
        "SUPPORT_PHONE",
        "ACCOUNT_MANAGER_GROUP",
    }


def test_socket_mode_also_needs_the_app_token() -> None:
    assert "SLACK_APP_TOKEN" in Settings().missing_for_serve(socket_mode=True)
    assert "SLACK_APP_TOKEN" not in Settings().missing_for_serve()


def test_the_rest_api_also_needs_its_client_key_and_our_public_address() -> None:
    assert Settings(nmbrs_api="rest").missing_for_serve() == [
        *REQUIRED_FOR_SERVE,
        *REQUIRED_FOR_REST,
    ]
    assert REQUIRED_FOR_REST == (
        "NMBRS_CLIENT_ID",
        "NMBRS_CLIENT_SECRET",
        "NMBRS_SUBSCRIPTION_KEY",
        "PUBLIC_URL",
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://onboarding.example.nl/", "https://onboarding.example.nl"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://localhost:3000", "http://localhost:3000"),
    ],
)
def test_the_public_address_is_https_or_a_loopback_one(given: str, kept: str) -> None:
    settings = Settings(public_url=given)
    assert settings.public_url == kept
    assert settings.nmbrs_redirect_uri == kept + "/nmbrs/callback"


@pytest.mark.parametrize(
    "given",
    ["http://onboarding.example.nl", "ftp://example.nl", "onboarding.example.nl", "https://x/?a=1"],
)
def test_a_public_address_that_is_not_https_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_URL|public_url"):
        Settings(public_url=given)


def test_settings_come_from_the_environment_and_dot_env_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    (tmp_path / ".env").write_text("TERMS_URL=https://example.com/terms\nPORT=8080\n")
    (tmp_path / ".env.local").write_text("ENCRYPTION_KEYS= newest , older ,\n")
    monkeypatch.setenv("PORT", "9090")

    settings = Settings()
    assert settings.terms_url == "https://example.com/terms"
    assert settings.port == 9090, "the environment wins over .env"
    assert settings.encryption_key_list == ["newest", "older"]


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be one of nl, en"):
        Settings(default_language="de")


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    undocumented = [
        name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme
    ]
    assert not undocumented, f"document {undocumented} in README.md, Configuration"


def test_the_secrets_stay_out_of_repr_and_str() -> None:
    secrets = {
        "slack_bot_token": "xoxb-very-secret-bot-token",
        "slack_signing_secret": "signing-secret-0123456789abcdef",
        "slack_app_token": "xapp-very-secret-app-token",
        "encryption_keys": "first-secret-key,second-secret-key",
        "database_url": "postgresql://bot:db-password-42@db.internal/onboarding",
    }
    settings = Settings(**secrets)

    for shown in (repr(settings), str(settings)):
        for value in (*secrets.values(), "db-password-42", "first-secret-key"):
            assert value not in shown
    assert settings.slack_signing_secret.get_secret_value() == secrets["slack_signing_secret"]
    assert settings.encryption_key_list == ["first-secret-key", "second-secret-key"]


@pytest.mark.parametrize("value", ["S0MANAGERS", "S012AB3CD", "*"])
def test_the_account_manager_group_is_a_user_group_id_or_a_star(value: str) -> None:
    assert Settings(account_manager_group=value).account_manager_group == value
    assert "ACCOUNT_MANAGER_GROUP" not in Settings(account_manager_group=value).missing_for_serve()


@pytest.mark.parametrize("value", ["s0managers", "C0STATUS", "S", "@managers", "S0-1", "**"])
def test_anything_else_as_account_manager_group_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="must be a Slack user group id .* or \\*"):
        Settings(account_manager_group=value)


def test_the_consent_asks_who_approved_only_when_nmbrs_ask_user_info_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.bootstrap import payroll_providers
    from bot.core.payroll import NMBRS_REST
    from payroll.nmbrs_rest.model import USER_INFO
    from payroll.nmbrs_rest.provider import RestNmbrsProvider

    def asked_scopes() -> tuple[str, ...]:
        provider = payroll_providers(Settings(nmbrs_api="rest")).get(NMBRS_REST)
        assert isinstance(provider, RestNmbrsProvider)
        try:
            return provider.identity.scopes
        finally:
            provider.close()

    assert Settings().nmbrs_ask_user_info is False
    assert USER_INFO not in asked_scopes()
    monkeypatch.setenv("NMBRS_ASK_USER_INFO", "true")
    assert USER_INFO in asked_scopes()


def test_english_clients_get_the_english_terms_and_the_dutch_ones_without_them():
    both = Settings(_env_file=None, terms_url="https://x/nl", terms_url_en="https://x/en")
    dutch_only = Settings(_env_file=None, terms_url="https://x/nl")
    assert [both.terms_url_for(language) for language in ("nl", "en", None)] == [
        "https://x/nl",
        "https://x/en",
        "https://x/nl",
    ]
    assert dutch_only.terms_url_for("en") == "https://x/nl"
