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
`other`), with `count` filled in; `text(key, count=...)` on a table does the same. No other
code decides between singular and plural, so a text with a `{count}` is always a table:

    [home] rest_links = { one = "{count} link", other = "{count} links" }
    text = catalogue("en").plural("manager.home.rest_links", 3)

Numbers, dates and times reach a person only through the catalogue, in its language's CLDR
format and the Dutch time zone: a number filled into a text is formatted by `number` ("5.000"
in Dutch, "5,000" in English), and moments go through `date`, `time` and `moment`.

A value that ends a sentence ("Klant 0042 B.V.") is not followed by the text's own full stop:
`text` drops the stop after a value that already ends in one (seen through emphasis marks), so
"... {client}." never reads "B.V..".

Dutch is the default; an unknown language falls back to it. A test keeps the key sets of all
languages equal, so a missing translation fails the build instead of reaching a customer.
"""

from __future__ import annotations

import datetime as dt
import string
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

CATALOGUE_DIR = Path(__file__).resolve().parent
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
# How numbers, dates and times are written per language: English as written in Europe (24-hour
# clock, day before month), for the English-speaking staff of Dutch employers.
FORMAT_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
# The clock people read: the clients and account managers are Dutch.
TIME_ZONE = ZoneInfo("Europe/Amsterdam")
# Marks a transport may wrap around a value (bold, italics, code, a link's end), seen through
# when asking whether a value ends a sentence.
EMPHASIS_MARKS = "*_~`>"
SENTENCE_ENDS = (".", "!", "?", "…")
_FORMATTER = string.Formatter()


class Catalogue(Mapping[str, str]):
    """The texts of one language, by dotted key."""

    def __init__(self, language: str, texts: dict[str, str]):
        self.language = language
        self._texts = texts

    def text(self, key: str, **values: Any) -> str:
        """The text for `key` with `values` filled in (numbers through `number`); KeyError for
        an unknown key or a placeholder without a value. A plural table's `key` gives its form
        for the `count` among `values` (see `plural`)."""
        template = self._texts.get(key)
        if template is None and self.is_plural(key) and "count" in values:
            return self.plural(key, **values)
        if template is None:
            raise KeyError(key)
        return self._fill(template, values)

    def is_plural(self, key: str) -> bool:
        """Whether `key` is a table of plural forms."""
        return f"{key}.other" in self._texts

    def has(self, key: str) -> bool:
        """Whether `key` is a text or a table of plural forms."""
        return key in self._texts or self.is_plural(key)

    def plural(self, key: str, count: int, **values: Any) -> str:
        """The plural form of the table `key` for `count` in this language, filled in with
        `count` and `values`; KeyError when the table has neither that form nor `other`."""
        form = _plural_form(self.language, count)
        template = self._texts.get(f"{key}.{form}") or self._texts[f"{key}.other"]
        return self._fill(template, {**values, "count": count})

    def number(self, value: float) -> str:
        """A number as this language writes it: "5.000" in Dutch, "5,000" in English."""
        return str(format_decimal(value, locale=self._format_locale))

    def date(self, day: dt.date, zone: dt.tzinfo = TIME_ZONE) -> str:
        """A day as in running text ("1 december 2026"); a moment's day in `zone`."""
        if isinstance(day, dt.datetime):
            day = day.astimezone(zone).date()
        return str(format_date(day, "long", locale=self._format_locale))

    def time(self, moment: dt.datetime, zone: dt.tzinfo = TIME_ZONE) -> str:
        """A moment's wall-clock time in `zone`, 24-hour ("09:08")."""
        return str(format_time(moment, "HH:mm", tzinfo=zone, locale=self._format_locale))

    def moment(self, moment: dt.datetime, zone: dt.tzinfo = TIME_ZONE) -> str:
        """A day and time ("1 december 2026 om 09:08")."""
        return self.text(
            "reports.format.moment", date=self.date(moment, zone), time=self.time(moment, zone)
        )

    @property
    def _format_locale(self) -> str:
        return FORMAT_LOCALES.get(self.language, self.language)

    def _fill(self, template: str, values: Mapping[str, Any]) -> str:
        pieces: list[str] = []
        after_sentence_end = False
        for literal, field, spec, conversion in _FORMATTER.parse(template):
            if after_sentence_end and literal.startswith("."):
                literal = literal[1:]
            pieces.append(literal)
            if field is None:
                continue
            value, _ = _FORMATTER.get_field(field, (), values)
            value = _FORMATTER.convert_field(value, conversion)
            if isinstance(value, int | float) and not isinstance(value, bool) and not spec:
                rendered = self.number(value)
            else:
                rendered = _FORMATTER.format_field(value, spec or "")
            pieces.append(rendered)
            after_sentence_end = rendered.rstrip(EMPHASIS_MARKS).endswith(SENTENCE_ENDS)
        return "".join(pieces)

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
