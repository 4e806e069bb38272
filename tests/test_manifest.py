"""manifest.yml declares what the code uses, and asks for no more scopes than that."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt.async_app import AsyncApp

from bot.bootstrap import build_container, slack_app
from bot.settings import Settings
from storage.crypto import generate_key

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
EVENTS_URL_PATH = "/slack/events"

# Bot-token scopes each Web API method needs (https://api.slack.com/methods). A method the code
# starts calling must be added here; the test then checks the manifest grants its scopes.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "chat.delete": {"chat:write"},
    "chat.getPermalink": set(),
    "chat.postEphemeral": {"chat:write"},
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    # Shared channels may be public or private.
    "conversations.history": {"channels:history", "groups:history"},
    "conversations.info": {"channels:read", "groups:read"},
    "conversations.members": {"channels:read", "groups:read"},
    "conversations.open": {"im:write"},
    "team.info": {"team:read"},
    "usergroups.list": {"usergroups:read"},
    "usergroups.users.list": {"usergroups:read"},
    "users.info": {"users:read"},
    "views.open": set(),
    "views.publish": set(),
    "views.push": set(),
    "views.update": set(),
}

SDK_METHOD_CALL = re.compile(r"client\.([a-z]+(?:_[a-zA-Z]+)+)\(")  # also self._client, web_client
METHOD_NAME_LITERAL = re.compile(
    r"""["']((?:auth|bots|chat|conversations|reactions|team|usergroups|users|views)"""
    r"""(?:\.[a-zA-Z]+)+)["']"""
)
SAY_CALL = re.compile(r"\bsay\(")
SDK_HELPERS_NOT_METHODS = {"api_call"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture
def bolt_app(tmp_path: Path) -> Iterator[AsyncApp]:
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-manifest-test",
        slack_signing_secret="manifest-test",
        slack_api_url="http://127.0.0.1:9/api/",
        encryption_keys=generate_key(),
        database_url=f"sqlite:///{tmp_path / 'onboarding.db'}",
    )
    container = build_container(settings)
    yield slack_app(container)
    container.close()


def bot_sources() -> Iterator[tuple[Path, str]]:
    for path in sorted((ROOT / "bot").rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def called_methods() -> dict[str, Path]:
    """Every Web API method the bot's code names, with one file that names it."""
    found: dict[str, Path] = {}
    for path, source in bot_sources():
        for attribute in SDK_METHOD_CALL.findall(source):
            if attribute not in SDK_HELPERS_NOT_METHODS:
                found.setdefault(attribute.replace("_", "."), path)
        for literal in METHOD_NAME_LITERAL.findall(source):
            found.setdefault(literal, path)
        if SAY_CALL.search(source):
            found.setdefault("chat.postMessage", path)
    return found


def registered(app: AsyncApp, matcher: str, variable: str) -> set[str]:
    """What bolt's built-in `matcher` (command, event) listeners were registered for."""

    def closure_values(function: Callable[..., Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        nonlocals = inspect.getclosurevars(function).nonlocals
        yield function.__qualname__, nonlocals
        for value in nonlocals.values():
            if inspect.isfunction(value):
                yield from closure_values(value)

    values: set[str] = set()
    for listener in app._async_listeners:
        for listener_matcher in listener.matchers:
            function = getattr(listener_matcher, "func", None)
            if function is None:
                continue
            for qualname, nonlocals in closure_values(function):
                if qualname == f"{matcher}.<locals>.func" and variable in nonlocals:
                    value = nonlocals[variable]
                    values.add(value["type"] if isinstance(value, dict) else str(value))
    return values


def test_the_manifest_loads_with_a_bot_user_and_the_home_tab(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_the_display_texts_fit_slacks_limits(manifest: dict[str, Any]) -> None:
    display = manifest["display_information"]
    assert len(display["name"]) <= 35
    assert len(display["description"]) <= 140
    assert 174 <= len(display["long_description"]) <= 4000


def test_every_request_goes_to_slack_events(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    urls = [
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        settings["interactivity"]["message_menu_options_url"],
        *(command["url"] for command in manifest["features"]["slash_commands"]),
    ]
    assert settings["interactivity"]["is_enabled"] is True
    assert all(url.startswith("https://") and url.endswith(EVENTS_URL_PATH) for url in urls), urls


def test_the_bot_subscribes_to_home_and_access_loss_events(manifest: dict[str, Any]) -> None:
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_uninstalled",
        "tokens_revoked",
    }


def test_the_declared_commands_are_the_ones_the_app_registers(
    manifest: dict[str, Any], bolt_app: AsyncApp
) -> None:
    declared = {command["command"] for command in manifest["features"]["slash_commands"]}
    commands = registered(bolt_app, "command", "command")
    assert "/onboard" in declared
    assert commands <= declared, f"declare {sorted(commands - declared)} in manifest.yml"
    assert declared <= commands, f"nothing handles {sorted(declared - commands)}"


def test_the_subscribed_events_are_the_ones_the_app_listens_to(
    manifest: dict[str, Any], bolt_app: AsyncApp
) -> None:
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    events = registered(bolt_app, "event", "event_type") | registered(
        bolt_app, "event", "constraints"
    )
    assert events <= subscribed, f"subscribe to {sorted(events - subscribed)} in manifest.yml"
    assert subscribed <= events, f"nothing handles {sorted(subscribed - events)}"


def test_every_web_api_method_the_code_calls_has_its_scopes(manifest: dict[str, Any]) -> None:
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    calls = called_methods()
    unknown = {method: str(path) for method, path in calls.items() if method not in METHOD_SCOPES}
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"
    missing = {
        method: sorted(METHOD_SCOPES[method] - granted)
        for method in calls
        if METHOD_SCOPES[method] - granted
    }
    assert not missing, f"manifest.yml lacks scopes for {missing}"


def test_the_manifest_asks_for_no_scope_the_code_does_not_use(
    manifest: dict[str, Any], bolt_app: AsyncApp
) -> None:
    needed = set().union(*(METHOD_SCOPES[method] for method in called_methods()))
    if registered(bolt_app, "command", "command"):
        needed.add("commands")
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    assert granted <= needed, f"unused scopes in manifest.yml: {sorted(granted - needed)}"
