"""The stand-in stands beside the bot: it loads nothing of the bot, and the bot never loads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"benchmarks", "tests"}


def the_bots_packages() -> set[str]:
    """The project's own top-level packages other than the stand-in (bot, storage, ...)."""
    shipped = {init.parent.name for init in ROOT.glob("*/__init__.py")} - NOT_SHIPPED
    return shipped - {"devslack"}


def top_level_modules_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded once `statement` ran."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return {name.split(".")[0] for name in loaded.split()}


def test_the_stand_in_loads_nothing_of_the_bot() -> None:
    bots = the_bots_packages()
    assert "bot" in bots
    assert top_level_modules_after("import devslack") & bots == set()


def test_the_bot_and_its_demo_module_do_not_load_the_stand_in() -> None:
    assert "devslack" not in top_level_modules_after("import bot.cli, bot.demo")
