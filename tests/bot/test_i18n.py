import string

from bot.i18n import LANGUAGES, catalogue, load_language

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
    assert catalogue("en").text("customer.modal.title_terms") == "Start the link"


def test_values_are_filled_in():
    assert "Acme" in catalogue("nl").text("customer.invite.text", client="Acme")


def test_dutch_is_the_default_and_the_fallback():
    assert catalogue().language == "nl"
    assert catalogue("fr").language == "nl"
    assert catalogue(None).language == "nl"
