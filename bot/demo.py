"""What `onboard-bot demo` (and `make demo`) sets up before serving.

The demo is a chain of stages. Each stage looks at the settings so far, may prepare something
(a file, a local server kept open in the ExitStack until the demo stops) and returns the settings
it supplies plus a line telling the user what it did. A local Nmbrs sandbox or a local Slack
stand-in is one more stage in `DEMO_STAGES`; `serve` then runs on the combined settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import Settings
from storage.crypto import generate_key

LOCAL_ENV_FILE = Path(".env.local")
DEMO_DATABASE_URL = "sqlite:///./demo.db"

# Values `serve` requires that the demo may fill in; recognisably examples, not real contacts.
EXAMPLE_SETTINGS = {
    "status_channel": "C0STATUS",
    "terms_url": "https://example.com/algemene-voorwaarden",
    "support_phone": "+31 20 000 0000 (example)",
}


@dataclass(frozen=True)
class StageResult:
    settings: dict[str, Any] = field(default_factory=dict)
    message: str | None = None


DemoStage = Callable[[Settings, ExitStack], StageResult]


def local_encryption_key(settings: Settings, _stack: ExitStack) -> StageResult:
    """Keep a generated key in the git-ignored .env.local unless ENCRYPTION_KEYS is set."""
    if settings.encryption_key_list:
        return StageResult()
    key = generate_key()
    existing = LOCAL_ENV_FILE.read_text(encoding="utf-8") if LOCAL_ENV_FILE.exists() else ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    descriptor = os.open(LOCAL_ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as env_file:
        env_file.write(f"{separator}ENCRYPTION_KEYS={key}\n")
    return StageResult(
        settings={"encryption_keys": key},
        message=f"generated an encryption key and kept it in {LOCAL_ENV_FILE} (git-ignored)",
    )


def local_database(_settings: Settings, _stack: ExitStack) -> StageResult:
    return StageResult(
        settings={"database_url": DEMO_DATABASE_URL},
        message=f"database: {DEMO_DATABASE_URL}",
    )


def example_settings(settings: Settings, _stack: ExitStack) -> StageResult:
    """Fill in the required non-secret settings that are not configured, as examples."""
    filled = {
        name: value for name, value in EXAMPLE_SETTINGS.items() if not getattr(settings, name)
    }
    if not filled:
        return StageResult()
    shown = ", ".join(f"{name.upper()}={value}" for name, value in filled.items())
    return StageResult(settings=filled, message=f"example values: {shown}")


DEMO_STAGES: list[DemoStage] = [local_encryption_key, local_database, example_settings]


def prepare_demo(
    stack: ExitStack, stages: list[DemoStage] = DEMO_STAGES
) -> tuple[Settings, list[str]]:
    """Run the stages in order; returns the settings to serve with and what each stage did."""
    supplied: dict[str, Any] = {}
    messages: list[str] = []
    settings = Settings()
    for stage in stages:
        result = stage(settings, stack)
        supplied.update(result.settings)
        if result.message:
            messages.append(result.message)
        settings = Settings(**supplied)
    return settings, messages
