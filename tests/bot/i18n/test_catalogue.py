import re
import string
from datetime import UTC, date, datetime

import pytest

from bot.i18n import LANGUAGES, Catalogue, catalogue, load_language

SHORT_TEXT_LIMIT = 24  # Slack: modal titles and submit/close buttons


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_language_has_the_same_keys():
    keys = {language: set(load_language(language)) for language in LANGUAGES}
    assert keys["nl"] == keys["en"]


def test_translations_fill_in_the_same_values():
    dutch, english = catalogue("nl"), catalogue("en")
    for key in dutch:
        assert _fields(dutch[key]) == _fields(english[key]), key


def test_modal_titles_and_buttons_fit_slack_in_every_language():
    for language in LANGUAGES:
        texts = catalogue(language)
        short = [key for key in texts if key.startswith("customer.modal.") and "already" not in key]
        short += ["customer.invite.start", "customer.invite.continue"]
        short += ["customer.preparation.nmbrs_button", "customer.over_access.back"]
        for key in short:
            assert len(texts[key]) <= SHORT_TEXT_LIMIT, (language, key, texts[key])


def test_keys_are_prefixed_with_their_area():
    assert catalogue("en").text("customer.modal.title_terms") == "Connect your payroll"


def test_values_are_filled_in():
    assert "Acme" in catalogue("nl").text("customer.invite.text", client="Acme")


def test_dutch_is_the_default_and_the_fallback():
    assert catalogue().language == "nl"
    assert catalogue("fr").language == "nl"
    assert catalogue(None).language == "nl"


# Slack mrkdwn belongs to the Slack renderer (bot/transports/slack/mrkdwn.py), not to the texts.
SLACK_MARKUP = {
    "a mention": re.compile(r"<@"),
    "a channel link": re.compile(r"<#"),
    "a link": re.compile(r"<(https?:|mailto:|\{)|<[^<>]*\|[^<>]*>"),
    "bold": re.compile(r"\*[^*\s][^*]*\*|\*\*"),
    "italics": re.compile(r"(^|[\s(])_[^_\s][^_]*_($|[\s).,:;!?])"),
    "code": re.compile(r"`"),
    "an emoji shortcode": re.compile(r":[a-z0-9_+-]+:"),
    "a Slack special": re.compile(r"<!"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_text_carries_slack_markup(language):
    found = [
        (key, what)
        for key, text in load_language(language).items()
        for what, pattern in SLACK_MARKUP.items()
        if pattern.search(text)
    ]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "Hallo <@{user}>",
        "in <#{channel}>",
        "<{url}|Lees>",
        "<https://example.com>",
        "*Klaar!* Verder",
        "Zie _API token toevoegen_.",
        "typ `/onboard`",
        ":wave: Welkom",
    ],
)
def test_the_markup_check_sees_each_kind_of_markup(text):
    assert any(pattern.search(text) for pattern in SLACK_MARKUP.values())


def test_plain_text_with_look_alikes_passes_the_markup_check():
    for text in ("Visma | Raet (Youforce)", "{marker}{client} in {channel}: 12:00", "{day:02d}"):
        assert not any(pattern.search(text) for pattern in SLACK_MARKUP.values()), text


def _catalogue(language: str, **texts: str) -> Catalogue:
    return Catalogue(language, {f"test.{key}": text for key, text in texts.items()})


def test_a_value_that_ends_a_sentence_is_not_followed_by_a_second_full_stop():
    texts = _catalogue("nl", done="Klaar met {client}.", bold="Klaar met {client}. Verder")
    assert texts.text("test.done", client="Klant 0042 B.V.") == "Klaar met Klant 0042 B.V."
    bold = texts.text("test.bold", client="*Klant 0042 B.V.*")
    assert bold == "Klaar met *Klant 0042 B.V.* Verder"
    assert texts.text("test.done", client="Bakkerij") == "Klaar met Bakkerij."


def test_a_number_filled_in_is_written_as_the_language_writes_it():
    texts = {language: _catalogue(language, seen="{seen} / {count}") for language in LANGUAGES}
    assert texts["nl"].text("test.seen", seen=5000, count=4979) == "5.000 / 4.979"
    assert texts["en"].text("test.seen", seen=5000, count=4979) == "5,000 / 4,979"


def test_a_text_names_its_plural_form_by_the_cldr_rules_of_its_language():
    forms = {"one": "{count} bedrijf", "other": "{count} bedrijven"}
    texts = Catalogue("nl", {f"test.companies.{form}": text for form, text in forms.items()})
    assert [texts.plural("test.companies", n) for n in (0, 1, 2)] == [
        "0 bedrijven",
        "1 bedrijf",
        "2 bedrijven",
    ]
    assert texts.text("test.companies", count=5000) == "5.000 bedrijven"


def test_days_and_times_are_written_in_the_language_and_in_dutch_time():
    winter_morning = datetime(2026, 12, 1, 8, 3, tzinfo=UTC)
    assert catalogue("nl").date(date(2026, 12, 1)) == "1 december 2026"
    assert catalogue("en").date(date(2026, 12, 1)) == "1 December 2026"
    assert catalogue("nl").time(winter_morning) == "09:03"
    assert catalogue("en").time(winter_morning) == "09:03"
    assert catalogue("nl").moment(winter_morning) == "1 december 2026 om 09:03"
    assert catalogue("en").moment(winter_morning) == "1 December 2026 at 09:03"


def test_a_placeholder_without_a_value_is_an_error_not_a_text():
    with pytest.raises(KeyError):
        catalogue("nl").text("customer.invite.text")
