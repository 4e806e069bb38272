"""Debian's Chromium for the browser tests, through Playwright: the installed binary only (never a
downloaded browser), headless, with everything that would reach beyond loopback switched off."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# `pytestmark = needs_chromium` in a module of browser tests.
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"Debian's chromium is not installed ({CHROMIUM} missing): apt-get install chromium",
    ),
]


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
