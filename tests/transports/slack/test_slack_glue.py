"""The Slack-side helpers of the conversation: signed metadata, who acts, reading forms,
channel membership (against the fake Slack over HTTP)."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.service import MembershipUnknown, StepRef
from bot.transports.slack.answers import actor_from
from bot.transports.slack.membership import SlackChannelMembership
from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.views import onboarding as views
from devslack import run_devslack
from devslack.workspace import Channel


def test_signed_metadata_round_trips():
    signer = MetadataSigner("secret")
    metadata = signer.verify(signer.sign(StepRef(42, 7), "en"))
    assert metadata is not None
    assert (metadata.ref, metadata.language) == (StepRef(42, 7), "en")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda text: text.replace("42.", "43.", 1),
        lambda text: text.replace(".7.", ".8.", 1),
        lambda text: text[:-1] + ("0" if text[-1] != "0" else "1"),
        lambda text: "",
        lambda text: "42.7.en",
    ],
)
def test_edited_metadata_is_refused(tamper):
    signer = MetadataSigner("secret")
    assert signer.verify(tamper(signer.sign(StepRef(42, 7), "en"))) is None


def test_metadata_signed_with_another_secret_is_refused():
    assert (
        MetadataSigner("other").verify(MetadataSigner("secret").sign(StepRef(1, 0), "nl")) is None
    )


def test_the_actor_of_an_external_user_carries_their_own_team():
    body = {
        "user": {"id": "U0CUSTOMER", "team_id": "T0CUSTOMER"},
        "team": {"id": "T0OURS"},
        "view": {"app_installed_team_id": "T0OURS"},
        "channel": {"id": "C0SHARED"},
    }
    actor = actor_from(body)
    assert (actor.user_id, actor.team_id, actor.channel_id) == ("U0CUSTOMER", "T0CUSTOMER", None)
    assert actor_from(body, from_channel=True).channel_id == "C0SHARED"


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
    form = views.read_form(view)
    assert form.value("accept_terms") == ["accepted"]
    assert form.value("choose_package") == "afas"
    assert form.block_ids["token"] == "token-3"
    assert views.terms_errors(form, "nl") == {}


def test_an_unticked_box_and_a_missing_package_are_errors_on_their_own_blocks():
    view = state(
        **{
            "terms-0": ("accept_terms", {"type": "checkboxes", "selected_options": []}),
            "package-0": ("choose_package", {"type": "static_select", "selected_option": None}),
        }
    )
    errors = views.terms_errors(views.read_form(view), "en")
    assert set(errors) == {"terms-0", "package-0"}
    assert "general terms" in errors["terms-0"]


def test_empty_credentials_are_errors_and_the_draft_never_holds_the_token():
    view = state(
        **{
            "username-1": ("username", {"type": "plain_text_input", "value": "loon@acme.nl"}),
            "token-1": ("token", {"type": "plain_text_input", "value": "  \n"}),
        }
    )
    form = views.read_form(view)
    assert set(views.credentials_errors(form, "nl")) == {"token-1"}
    assert views.draft_of(views.CALLBACK_CREDENTIALS, form) == {"username": "loon@acme.nl"}


def test_companies_come_from_checkboxes_or_the_type_ahead():
    picked = [{"value": "11"}, {"value": "12"}]
    for action, kind in (
        ("choose_companies", "checkboxes"),
        ("search_companies", "multi_external_select"),
    ):
        form = views.read_form(
            state(companies=(action, {"type": kind, "selected_options": picked}))
        )
        assert views.chosen_company_ids(form) == [11, 12]
        assert views.companies_errors(form, "nl") == {}
    empty = views.read_form(state(companies=("choose_companies", {"type": "checkboxes"})))
    assert views.companies_errors(empty, "nl") == {"companies": "Kies minstens één bedrijf."}


@pytest.fixture
def fake_slack():
    with run_devslack() as slack:
        slack.workspace.add_channel(
            Channel("C0BIG", "big", [f"U{n:04d}" for n in range(250)] + ["U0CUSTOMER"])
        )
        yield slack


def membership(slack, **options) -> SlackChannelMembership:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    return SlackChannelMembership(client, **options)


def test_members_are_read_across_pages(fake_slack):
    members = membership(fake_slack, page_size=100)
    assert members.is_member("C0BIG", "U0CUSTOMER")
    assert not members.is_member("C0BIG", "U0STRANGER")
    assert len(fake_slack.calls("conversations.members")) == 3


def test_membership_is_cached_briefly(fake_slack):
    now = [100.0]
    members = membership(fake_slack, ttl=30, monotonic=lambda: now[0])
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    now[0] += 29
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    assert len(fake_slack.calls("conversations.members")) == 1
    now[0] += 2
    assert members.is_member("C0SHARED", "U0CUSTOMER")
    assert len(fake_slack.calls("conversations.members")) == 2


def test_nobody_is_a_member_of_an_unknown_channel(fake_slack):
    assert not membership(fake_slack).is_member("C0NOWHERE", "U0CUSTOMER")


def test_a_failing_slack_makes_membership_unknown(fake_slack):
    fake_slack.fail("conversations.members", status=500)
    with pytest.raises(MembershipUnknown):
        membership(fake_slack).is_member("C0SHARED", "U0CUSTOMER")
