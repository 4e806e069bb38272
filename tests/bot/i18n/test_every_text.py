"""Every entry of every catalogue, drawn with sample values in every language.

The samples are what reaches the texts in real life: names that end in a full stop or a bracket
("Klant 0042 B.V.", "(Scenario 3) General Manager Payroll & HR (System)"), plain and in bold, and
counts of 0, 1, 2 and 5000. A drawn text must not double its punctuation, leave a placeholder
unfilled or write a number unformatted; a text that counts something is a table of exactly the
CLDR plural forms its language needs, and a plain text never puts a number before a noun.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

import pytest
from babel import Locale

from bot.i18n import LANGUAGES, Catalogue, catalogue

CLDR_FORMS = ("zero", "one", "two", "few", "many", "other")
COUNTS = (0, 1, 2, 5000)
# A value that ends a sentence, as plain text and as the transport draws a name (in bold).
SENTENCE_ENDINGS = ("Klant 0042 B.V.", "*Klant 0042 B.V.*", "Klaar!")
# Names that may end in a bracket: client and company names, packages, the Nmbrs template.
NAME_FIELDS = {
    "client",
    "new_client",
    "company",
    "companies",
    "name",
    "added",
    "removed",
    "debtors",
    "package",
    "template",
}
BRACKETED_NAME = "(Scenario 3) General Manager Payroll & HR (System)"
# Placeholders that hold a number: `count` belongs to plural tables only; the others may stand
# in a plain text as long as no noun follows them.
NUMBER_FIELD = re.compile(
    r"(count|total|seen|chosen|step|steps|limit|days|idle|on_rest|\w+_(count|seen|chosen|left|days))"
)
NUMBER_SAMPLE = 3
# Words after a number that do not change with it.
INVARIANT_AFTER_NUMBER = {"van", "of", "en", "and", "or", "op", "on", "in", "uit", "out"}
DOUBLED = re.compile(r"[.!?…,;:]\.(?!\.)|\)\)|[,;:][,;:]")
EMPHASIS = str.maketrans("", "", "*_`~")


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _split(texts: Catalogue) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The plain texts by key, and the plural tables by key with their forms."""
    plain: dict[str, str] = {}
    tables: dict[str, dict[str, str]] = {}
    for key in texts:
        base, _, form = key.rpartition(".")
        if form in CLDR_FORMS and texts.is_plural(base):
            tables.setdefault(base, {})[form] = texts[key]
        else:
            plain[key] = texts[key]
    return plain, tables


def _entries() -> Iterator[tuple[str, str]]:
    for language in LANGUAGES:
        plain, tables = _split(catalogue(language))
        for key in [*plain, *tables]:
            yield language, key


ENTRIES = list(_entries())
ENTRY_IDS = [f"{language}:{key}" for language, key in ENTRIES]


def _samples(fields: list[str], ending: str) -> list[dict[str, object]]:
    """One set of values per ending; names also once with a bracket at their end."""

    def values(text_ending: str, name_ending: str) -> dict[str, object]:
        return {
            field: NUMBER_SAMPLE
            if NUMBER_FIELD.fullmatch(field)
            else (name_ending if field in NAME_FIELDS else text_ending)
            for field in fields
            if field != "count"
        }

    return [values(ending, ending), values(ending, BRACKETED_NAME)]


def _problems(drawn: str) -> list[str]:
    problems = []
    visible = drawn.translate(EMPHASIS)
    if DOUBLED.search(visible):
        problems.append(f"doubled punctuation: {DOUBLED.search(visible).group()!r}")  # type: ignore[union-attr]
    if "{" in drawn or "}" in drawn:
        problems.append("a placeholder left unfilled")
    return problems


@pytest.mark.parametrize(("language", "key"), ENTRIES, ids=ENTRY_IDS)
def test_the_text_draws_cleanly_with_every_sample(language: str, key: str) -> None:
    texts = catalogue(language)
    found: list[tuple[object, str, list[str]]] = []
    if texts.is_plural(key):
        forms = _split(texts)[1][key]
        fields = sorted({field for form in forms.values() for field in _fields(form)})
        for count in COUNTS:
            for ending in SENTENCE_ENDINGS:
                for values in _samples(fields, ending):
                    drawn = texts.plural(key, count, **values)
                    problems = _problems(drawn)
                    counted = count == 5000 and "{count}" in forms.get("other", "")
                    if counted and texts.number(5000) not in drawn:
                        problems.append("the count is not written as the language writes it")
                    if problems:
                        found.append((count, drawn, problems))
    else:
        fields = _fields(texts[key])
        assert "count" not in fields, "a text with a {count} is a table of plural forms"
        for ending in SENTENCE_ENDINGS:
            for values in _samples(fields, ending):
                drawn = texts.text(key, **values)
                if problems := _problems(drawn):
                    found.append((None, drawn, problems))
    assert found == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_plural_table_has_exactly_the_forms_its_language_needs(language: str) -> None:
    needed = set(Locale.parse(language).plural_form.tags) | {"other"}
    _, tables = _split(catalogue(language))
    wrong = {key: sorted(forms) for key, forms in tables.items() if set(forms) != needed}
    assert wrong == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_forms_of_a_plural_table_fill_in_the_same_values(language: str) -> None:
    _, tables = _split(catalogue(language))
    for key, forms in tables.items():
        # The singular may spell its number out ("één bedrijf"): {count} aside, the same fields.
        fields = {form: set(_fields(text)) - {"count"} for form, text in forms.items()}
        assert len(set(map(frozenset, fields.values()))) == 1, (key, fields)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_plain_text_puts_a_number_before_a_word_that_changes_with_it(language: str) -> None:
    plain, _ = _split(catalogue(language))
    number_then_word = re.compile(r"\{(\w+)\}\s+([^\W\d_][\w-]*)")
    found = [
        (key, match.group())
        for key, text in plain.items()
        for match in number_then_word.finditer(text)
        if NUMBER_FIELD.fullmatch(match.group(1))
        and match.group(2).lower() not in INVARIANT_AFTER_NUMBER
    ]
    assert found == []


def test_every_language_has_the_same_plural_tables() -> None:
    tables = {language: set(_split(catalogue(language))[1]) for language in LANGUAGES}
    assert tables["nl"] == tables["en"]


@pytest.mark.parametrize(
    "drawn",
    ["Klant 0042 B.V..", "*Klant 0042 B.V.*.", "(sjabloon (System))", "gekoppeld:,", "{client}"],
)
def test_the_check_sees_each_kind_of_problem(drawn: str) -> None:
    assert _problems(drawn)


@pytest.mark.parametrize(
    "drawn", ["Klant 0042 B.V., Klant 0043 B.V.", "Klant 0042 B.V.: klaar.", "…en nog 3 andere."]
)
def test_the_check_passes_correct_punctuation(drawn: str) -> None:
    assert _problems(drawn) == []
