"""Reading what the person entered: forms by action id, inline errors, the company choice and
the draft a closed form leaves."""

from __future__ import annotations

from bot.transports.slack import forms
from bot.transports.slack.views.onboarding import CALLBACK_CREDENTIALS


def state(**entries) -> dict:
    return {
        "state": {"values": {block: {action: entry} for block, (action, entry) in entries.items()}}
    }


def test_a_form_is_read_by_action_id_whatever_the_block_id():
    view = state(
        **{
            "terms-3": (
                "accept_terms",
                {"type": "checkboxes", "selected_options": [{"value": "accepted"}]},
            ),
            "package-3": (
                "choose_package",
                {"type": "static_select", "selected_option": {"value": "afas"}},
            ),
            "token-3": ("token", {"type": "plain_text_input", "value": " abc "}),
        }
    )
    form = forms.read_form(view)
    assert form.value("accept_terms") == ["accepted"]
    assert form.value("choose_package") == "afas"
    assert form.block_ids["token"] == "token-3"
    assert forms.terms_errors(form, "nl") == {}


def test_an_unticked_box_and_a_missing_package_are_errors_on_their_own_blocks():
    view = state(
        **{
            "terms-0": ("accept_terms", {"type": "checkboxes", "selected_options": []}),
            "package-0": ("choose_package", {"type": "static_select", "selected_option": None}),
        }
    )
    errors = forms.terms_errors(forms.read_form(view), "en")
    assert set(errors) == {"terms-0", "package-0"}
    assert "general terms" in errors["terms-0"]


def test_empty_credentials_are_errors_and_the_draft_never_holds_the_token():
    view = state(
        **{
            "username-1": ("username", {"type": "plain_text_input", "value": "loon@acme.nl"}),
            "token-1": ("token", {"type": "plain_text_input", "value": "  \n"}),
        }
    )
    form = forms.read_form(view)
    assert set(forms.credentials_errors(form, "nl")) == {"token-1"}
    assert forms.draft_of(CALLBACK_CREDENTIALS, form) == {"username": "loon@acme.nl"}


def test_companies_come_from_checkboxes_or_the_type_ahead():
    picked = [{"value": "11"}, {"value": "12"}]
    for action, kind in (
        ("choose_companies", "checkboxes"),
        ("search_companies", "multi_external_select"),
    ):
        form = forms.read_form(
            state(companies=(action, {"type": kind, "selected_options": picked}))
        )
        assert forms.chosen_company_ids(form) == ["11", "12"]
        assert forms.companies_errors(form, "nl") == {}
    empty = forms.read_form(state(companies=("choose_companies", {"type": "checkboxes"})))
    assert forms.companies_errors(empty, "nl") == {"companies": "Kies minstens één bedrijf."}


def test_a_token_typed_as_the_username_is_an_inline_error_on_the_username():
    view = state(
        **{
            "username-1": (
                "username",
                {"type": "plain_text_input", "value": "5f2b8c1e7a9d4036b1e8c2f47a6d9e03"},
            ),
            "token-1": ("token", {"type": "plain_text_input", "value": "5f2b8c1e7a9d4036"}),
        }
    )
    form = forms.read_form(view)
    for language, says in (("en", "looks like an API token"), ("nl", "lijkt een API-token")):
        errors = forms.credentials_errors(form, language)
        assert set(errors) == {"username-1"}
        assert says in errors["username-1"]
