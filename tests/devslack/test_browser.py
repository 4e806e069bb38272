"""The browser page of the stand-in, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect, sync_playwright
from slack_sdk import WebClient

from devslack import DevSlack
from devslack.workspace import CUSTOMER, MANAGER, SHARED_CHANNEL
from tests.chromium import launch_chromium, needs_chromium

from .conftest import CONNECT_EXTERNAL_ID, invite_blocks

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, slack: DevSlack, bolt_bot: str):
    """Open the stand-in as a person; page errors fail the test."""
    pages = []

    def open_as(user: str, place: str = SHARED_CHANNEL):
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{slack.url}/?as={user}&in={place}")
        pages.append((page, errors))
        return page

    yield open_as
    for page, errors in pages:
        page.close()
        assert errors == []


@pytest.fixture
def invite(slack: DevSlack, bolt_bot: str) -> None:
    web = WebClient(token=slack.bot_token, base_url=slack.api_url)
    web.chat_postMessage(
        channel=SHARED_CHANNEL,
        text="Welkom",
        blocks=invite_blocks(f"*Welkom*, <@{CUSTOMER}>"),
    )


def run_onboard(page) -> None:
    page.get_by_label("Message").fill("/onboard")
    page.keyboard.press("Enter")
    page.get_by_role("dialog", name="Aan de slag").wait_for()


def test_a_slash_command_from_the_message_box_opens_the_modal(open_page):
    page = open_page(MANAGER)
    run_onboard(page)
    expect(page.get_by_label("Naam")).to_be_visible()


def test_a_submitted_modal_sends_what_was_typed_ticked_and_chosen(open_page, seen):
    page = open_page(MANAGER)
    run_onboard(page)
    page.get_by_label("Naam").fill("Jan")
    page.get_by_text("Akkoord").click()
    page.get_by_label("Bedrijf").fill("zu")
    page.get_by_role("option", name="Bakkerij Zuid").click()
    page.get_by_role("button", name="Verder").click()
    page.get_by_role("dialog").wait_for(state="detached")
    values = seen[-1]["view"]["state"]["values"]
    assert values["name"]["value"]["value"] == "Jan"
    assert values["company"]["value"]["selected_option"]["value"] == "Bakkerij Zuid"


def test_an_error_from_the_bot_shows_under_its_input(open_page):
    page = open_page(MANAGER)
    run_onboard(page)
    page.get_by_label("Naam").fill("Jan")
    page.get_by_role("button", name="Verder").click()
    expect(page.get_by_role("alert")).to_have_text("Vink de voorwaarden aan")


def test_an_empty_required_input_is_flagged_without_asking_the_bot(open_page, seen):
    page = open_page(MANAGER)
    run_onboard(page)
    page.get_by_role("button", name="Verder").click()
    page.get_by_role("alert").filter(has_text="Please fill out this field.").wait_for()
    assert [body.get("type") for body in seen] == [None]  # only the slash command


def test_the_customer_clicks_start_and_sees_the_message_change(open_page, invite):
    page = open_page(CUSTOMER)
    page.get_by_role("button", name="Start").click()
    page.get_by_role("dialog", name="Aan de slag").wait_for()
    expect(page.get_by_text("Gestart door @Jan de Vries")).to_be_visible()


def test_a_confirm_dialog_guards_a_dangerous_button(open_page, invite, slack):
    page = open_page(CUSTOMER)
    page.get_by_role("button", name="Annuleren").click()
    page.get_by_role("alertdialog", name="Onboarding annuleren?").get_by_text("Nee").click()
    page.get_by_role("button", name="Annuleren").click()
    page.get_by_role("button", name="Ja, annuleren").click()
    assert slack.user(CUSTOMER).wait_for_message(SHARED_CHANNEL, lambda m: m.text == "Geannuleerd")
    assert len(slack.calls("chat.update")) == 1


def test_a_slash_command_answer_is_only_visible_to_its_user(open_page):
    page = open_page(MANAGER)
    page.get_by_label("Message").fill("/onboard status")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Geen open onboardings")).to_be_visible()
    expect(page.get_by_text("Only visible to you")).to_be_visible()


def test_the_switch_shows_the_external_customer_only_the_shared_channel(open_page):
    page = open_page(MANAGER)
    expect(page.get_by_role("link", name="onboarding-status")).to_be_visible()
    page.get_by_role("tab", name="Jan de Vries").click()
    expect(page.locator(".me-name")).to_have_text("Jan de Vries")
    expect(page.get_by_role("link", name="onboarding-status")).to_have_count(0)
    expect(page.get_by_role("link", name="bakkerij-de-vries-payroll")).to_be_visible()


def test_opening_the_app_home_shows_what_the_bot_published(open_page, slack):
    page = open_page(MANAGER, "home")
    slack.user(MANAGER).wait_for_home()
    expect(page.locator("#home hr")).to_be_attached()
    expect(page.get_by_role("heading", name="Onboarding")).to_be_visible()


def test_someone_outside_every_shared_channel_sees_nothing_of_the_app(open_page):
    page = open_page("U0STRANGER")
    expect(page.get_by_role("heading", name="No shared channels")).to_be_visible()
    expect(page.get_by_text("Onboarding · Home")).to_have_count(0)


def test_emoji_shortcodes_show_as_emoji_in_text_and_buttons(open_page, slack: DevSlack):
    web = WebClient(token=slack.bot_token, base_url=slack.api_url)
    web.chat_postMessage(
        channel=SHARED_CHANNEL,
        text="Welkom",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": ":wave: *Welkom* :nope:"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "go",
                        "text": {"type": "plain_text", "text": ":rocket: Start", "emoji": True},
                    }
                ],
            },
        ],
    )
    page = open_page(CUSTOMER)
    expect(page.get_by_text("👋 Welkom :nope:")).to_be_visible()
    expect(page.get_by_role("button", name="🚀 Start")).to_be_visible()


def test_a_select_menu_in_a_modal_floats_over_the_modal_footer(open_page):
    page = open_page(MANAGER)
    run_onboard(page)
    page.get_by_label("Bedrijf").fill("bak")
    option = page.get_by_role("option", name="Bakkerij West")
    expect(option).to_be_in_viewport()
    option.click()
    expect(page.get_by_label("Bedrijf")).to_have_value("Bakkerij West")


def clicks_seen(seen: list[dict], timeout: float = 10.0) -> list[dict]:
    """The block_actions the tiny bot received, once there is one (it is told after the ack)."""
    deadline = time.monotonic() + timeout
    while not (clicks := [body for body in seen if body.get("type") == "block_actions"]):
        assert time.monotonic() < deadline, "the bot was not told of the click"
        time.sleep(0.05)
    return clicks


def test_a_link_button_opens_its_page_in_a_new_tab_and_tells_the_bot(open_page, seen):
    page = open_page(CUSTOMER)
    page.get_by_label("Message").fill("/onboard connect")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Verbinden")
    link = dialog.get_by_role("link", name="Log in bij Nmbrs")
    expect(link).to_have_attribute("target", "_blank")

    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()

    assert tab.url.endswith("/nmbrs/start?t=abc")
    clicked = clicks_seen(seen)
    assert [action["action_id"] for action in clicked[-1]["actions"]] == ["log_in"]
    assert clicked[-1]["view"]["external_id"] == CONNECT_EXTERNAL_ID
    tab.get_by_role("button", name="Goedkeuren").click()
    expect(tab.get_by_role("heading", name="Je kunt terug naar Slack")).to_be_visible()
    # The page updated the modal by its external_id: the open modal shows it by itself.
    page.bring_to_front()
    expect(page.get_by_role("dialog", name="Verbonden")).to_contain_text("Gekoppeld")
    tab.close()
