"""Message catalogues: every text a customer, account manager or report reader sees.

Each language has a folder (`nl/`, `en/`) of TOML files, one per area (`customer.toml`,
`manager.toml`, `reports.toml`, ...). A file's nested tables become dotted keys prefixed with
the area, so `[terms] title = "..."` in `customer.toml` is `customer.terms.title`. Values are
`str.format` templates with named fields:

    text = catalogue("en").text("customer.terms.title")
    text = catalogue(client.language).text("customer.invite.completed", count=3)

The texts are plain text, so any chat tool can show them: no mentions, channel links, links,
bold, italics, code or emoji shortcodes (emoji are Unicode characters). The transport adds its
markup through the values it fills in: a `{client}`, `{channel}` or `{user}` arrives already
rendered (in Slack bold, `<#C…>`, `<@U…>`), and words a text emphasises are their own keys,
named by a placeholder: `{lead}` is the key `<key>_lead`, a `{check_again}` or `{start}` is the
button's own text. Slack's side of this is `bot/transports/slack/mrkdwn.py`.

A text that depends on a number is a table of CLDR plural forms (`one`, `other`, ...), and
`plural(key, count, ...)` picks the language's form for `count` through Babel (falling back to
`other`), with `count` filled in:

    [home] rest_links = { one = "{count} link", other = "{count} links" }
    text = catalogue("en").plural("manager.home.rest_links", 3)

Dutch is the default; an unknown language falls back to it. A test keeps the key sets of all
languages equal, so a missing translation fails the build instead of reaching a customer.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_skeleton, format_time

CATALOGUE_DIR = Path(__file__).resolve().parent
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"


class Catalogue(Mapping[str, str]):
    """The texts of one language, by dotted key."""

    def __init__(self, language: str, texts: dict[str, str]):
        self.language = language
        self._texts = texts

    def text(self, key: str, **values: Any) -> str:
        """The text for `key` with `values` filled in; KeyError for an unknown key."""
        template = self._texts[key]
        return template.format(**values) if values else template

    def plural(self, key: str, count: int, **values: Any) -> str:
        """The plural form of the table `key` for `count` in this language, filled in with
        `count` and `values`; KeyError when the table has neither that form nor `other`."""
        form = _plural_form(self.language, count)
        template = self._texts.get(f"{key}.{form}") or self._texts[f"{key}.other"]
        return template.format(count=count, **values)

    def local_date(self, moment: datetime) -> str:
        """The day and month of a moment as this language writes them ("1 december"), in the
        moment's own time zone (give it in the customer's)."""
        return format_skeleton("MMMMd", moment, locale=_locale(self.language))

    def local_time(self, moment: datetime) -> str:
        """The time of day of a moment as this language writes it ("10:08", "10:08 AM")."""
        return format_time(moment, "short", locale=_locale(self.language))

    def __getitem__(self, key: str) -> str:
        return self._texts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def _plural_form(language: str, count: int) -> str:
    """The CLDR plural category of `count` in `language` ("one", "other", ...)."""
    return str(_locale(language).plural_form(abs(count)))


def _flatten(table: dict[str, Any], prefix: str, into: dict[str, str], source: Path) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}"
        if isinstance(value, dict):
            _flatten(value, key, into, source)
        elif isinstance(value, str):
            into[key] = value
        else:
            raise ValueError(f"{source}: {key} must be a string or a table")


def load_language(language: str, directory: Path = CATALOGUE_DIR) -> dict[str, str]:
    """All texts of `language`, from every TOML file in its folder."""
    texts: dict[str, str] = {}
    for path in sorted((directory / language).glob("*.toml")):
        with path.open("rb") as handle:
            _flatten(tomllib.load(handle), path.stem, texts, path)
    return texts


def resolve_language(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@cache
def catalogue(language: str | None = DEFAULT_LANGUAGE) -> Catalogue:
    """The catalogue of `language` (Dutch when unknown or missing)."""
    resolved = resolve_language(language)
    return Catalogue(resolved, load_language(resolved))
