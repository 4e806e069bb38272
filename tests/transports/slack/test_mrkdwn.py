"""Slack's markup around the plain catalogue texts."""

from bot.i18n import catalogue
from bot.transports.slack.mrkdwn import (
    SECTION_TEXT_LIMIT,
    bold,
    button_label,
    channel,
    escape,
    is_person,
    link,
    mention,
    verbatim_sections,
    with_lead,
)


def test_user_data_cannot_become_a_link_a_mention_or_an_entity():
    assert escape("<@U1> & <#C1|x>") == "&lt;@U1&gt; &amp; &lt;#C1|x&gt;"


def test_mentions_channels_and_links_are_spelled_the_slack_way():
    assert mention("U0CUSTOMER") == "<@U0CUSTOMER>"
    assert channel("C0SHARED") == "<#C0SHARED>"
    assert link("https://example.com/terms", "Terms & <conditions>") == (
        "<https://example.com/terms|Terms &amp; &lt;conditions&gt;>"
    )


def test_a_lead_sentence_is_its_own_text_set_in_bold():
    texts = catalogue("en")
    assert with_lead(texts, "customer.credentials.wrong") == (
        "❌ *The username or the API token is incorrect.* "
        "Check both in Nmbrs and paste the token again."
    )
    assert with_lead(texts, "reports.digest.none_open", "reports.digest.open_lead") == (
        "*Open:* none"
    )


def test_a_button_named_in_a_sentence_is_its_own_text_in_bold():
    assert button_label(catalogue("nl"), "customer.modal.check_again") == bold(
        "Opnieuw controleren"
    )


def test_only_user_ids_are_people():
    assert is_person("U0CUSTOMER") and is_person("W0ENTERPRISE")
    assert not is_person("system") and not is_person("cli") and not is_person("U0 X")


def test_verbatim_sections_keep_a_message_text_whole_within_slacks_limit():
    lines = [f"line {n} " + "x" * 990 for n in range(7)]
    sections = verbatim_sections("\n".join(lines))
    assert all(section["text"]["verbatim"] is True for section in sections)
    assert all(len(section["text"]["text"]) <= SECTION_TEXT_LIMIT for section in sections)
    assert "\n".join(section["text"]["text"] for section in sections) == "\n".join(lines)
    assert verbatim_sections("y" * 7000)[2]["text"]["text"] == "y" * 1000
