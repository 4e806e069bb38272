"""Status reports, served: every meaningful event of real onboardings (driven through the fake
Slack and the Nmbrs sandbox) yields exactly one message in the status channel, sent by the outbox
worker, naming the companies on completion and never a token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.core.events import OnboardingEvent
from bot.reports import UNREPORTED_KINDS
from bot.transports.slack.views.home import ACTION_CANCEL, ACTION_LIFT_BLOCK, ACTION_UNLINK
from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANIES,
    CALLBACK_COMPANIES,
    CALLBACK_OVER_ACCESS,
)
from devslack import DevSlack, SlackUser
from devslack.workspace import BOT_USER, CUSTOMER_TEAM, OUR_TEAM, Channel
from payroll.nmbrs_soap.sandbox import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    PERMISSIONS_OFF_USERNAME,
    SandboxHandle,
)
from storage.models import OutboxMessage
from tests.e2e.journey import (
    accept_terms,
    enter_credentials,
    eventually,
    settled,
    start,
    to_credentials,
)
from tests.e2e.test_manager import (
    CUSTOMER,
    MANAGER,
    SHARED,
    STATUS,
    ManagerBot,
    bot_settings,
    fill_and_submit,
    open_start_modal,
    result,
)
from tests.slack_drawn import draw_row, not_verbatim

PERMISSIONS_OFF_IDS = ["48201", "48202", "48203"]


@pytest.fixture
def reporting(database_url: str, slack: DevSlack, nmbrs: SandboxHandle) -> Iterator[ManagerBot]:
    settings = bot_settings(database_url, slack, nmbrs_base_url=nmbrs.base_url)
    bot = ManagerBot(settings=settings, slack=slack)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def invite_via_onboard(manager: SlackUser, channel: str, client: str) -> None:
    fill_and_submit(manager, open_start_modal(manager, channel), client=client, channel=channel)
    result(manager, "title_started")
    manager.close(everything=True)


def home_button(manager: SlackUser, action: str, block: str):
    manager.open_home()
    home = manager.wait_for_home(lambda view: block in json.dumps(view.blocks))
    manager.click(home, f"{block}.{action}")
    manager.wait_for_home(lambda view: view.blocks != home.blocks)


def test_every_meaningful_event_yields_exactly_one_report(
    reporting: ManagerBot, slack: DevSlack, nmbrs: SandboxHandle
) -> None:
    assert reporting.container is not None
    published: list[OnboardingEvent] = []
    reporting.container.event_bus.subscribe(lambda uow, event: published.append(event))
    manager, customer = slack.user(MANAGER), slack.user(CUSTOMER)
    account = nmbrs.accounts[PERMISSIONS_OFF_USERNAME]

    # invited, started, terms accepted, credentials rejected, blocked, block lifted
    invite_via_onboard(manager, SHARED, "Bakkerij de Vries")
    to_credentials(customer)
    for attempt in range(5):
        enter_credentials(customer, PERMISSIONS_OFF_USERNAME, f"wrong-{attempt}")
    first = reporting.onboardings()[0].id
    home_button(manager, ACTION_LIFT_BLOCK, f"onboarding_{first}")

    # permissions missing, then over-access warning and completion with the companies' names
    screen = start(customer)
    screen = enter_credentials(customer, PERMISSIONS_OFF_USERNAME, account.token)
    account.switch_on(*account.permissions_off)
    customer.click(screen, ACTION_CHECK_AGAIN)
    companies = settled(customer, CALLBACK_COMPANIES)
    customer.fill(companies, {ACTION_COMPANIES: PERMISSIONS_OFF_IDS[:2]})
    customer.submit(companies)
    customer.submit(settled(customer, CALLBACK_OVER_ACCESS))
    settled(customer)

    # unlinked
    link_id = reporting.onboardings()[0].step_data["link_id"]
    home_button(manager, ACTION_UNLINK, f"link_{link_id}")

    # handoff, cancelled, expired: three more clients in channels of their own
    for channel in ("C0HANDOFF", "C0CANCEL", "C0EXPIRE"):
        slack.workspace.add_channel(
            Channel(
                channel,
                channel.lower(),
                [MANAGER, CUSTOMER, BOT_USER],
                shared_team_ids=[OUR_TEAM, CUSTOMER_TEAM],
            )
        )
    invite_via_onboard(manager, "C0HANDOFF", "Bakker Overgedragen")
    invite_via_onboard(manager, "C0CANCEL", "Bakker Geannuleerd")
    invite_via_onboard(manager, "C0EXPIRE", "Bakker Verlopen")
    customer.click(
        customer.wait_for_message("C0HANDOFF", lambda m: "start_onboarding" in str(m.blocks)),
        "start_onboarding",
    )
    accept_terms(customer, package="not_listed")
    cancel_id = reporting.onboardings()[2].id
    home_button(manager, ACTION_CANCEL, f"onboarding_{cancel_id}")
    expire_id = reporting.onboardings()[3].id
    expires_at = reporting.onboardings()[3].expires_at
    tools = reporting.container.manager
    assert [s.onboarding_id for s in tools.expire_overdue(expires_at + timedelta(minutes=1))] == [
        expire_id
    ]

    reported_kinds = [
        "invite_created",
        "onboarding_started",
        "terms_accepted",
        *["credentials_rejected"] * 4,
        "credential_attempts_blocked",
        "credential_block_lifted",
        "permissions_missing",
        "over_access_warned",
        "over_access_confirmed",
        "onboarding_completed",
        "link_unlinked",
        "invite_created",
        "invite_created",
        "invite_created",
        "onboarding_started",
        "handed_off",
        "onboarding_cancelled",
        "onboarding_expired",
    ]
    events = [e.kind for e in published if e.kind not in UNREPORTED_KINDS]
    assert events == [kind for kind in reported_kinds if kind != "link_unlinked"]

    def reports() -> list[OutboxMessage]:
        return [r for r in reporting.rows(OutboxMessage) if r.kind.startswith("report.")]

    assert [row.kind.removeprefix("report.") for row in reports()] == reported_kinds
    eventually(lambda: {row.status for row in reports()} == {"sent"}, timeout=15)
    eventually(
        lambda: (
            {r.status for r in reporting.rows(OutboxMessage) if r.recipient == STATUS} == {"sent"}
        ),
        timeout=15,
    )
    timeline = slack.messages(STATUS)
    # One parent per onboarding, redrawn in place; every report a reply in its thread.
    parents = [m for m in timeline if m.thread_ts is None]
    assert len(parents) == len(reporting.onboardings())
    posted = [m for m in timeline if m.thread_ts is not None]
    assert {m.thread_ts for m in posted} == {m.ts for m in parents}
    assert [m.text for m in posted] == [draw_row(row).payload["text"] for row in reports()]
    handed_off = next(m for m in posted if "overgedragen" in m.text)
    assert handed_off.text.startswith("<@U0MANAGER>")
    completed = next(m.text for m in posted if "koppeling klaar" in m.text)
    assert "Bakkerij De Gouden Korst B.V." in completed and "2 bedrijven" in completed
    everything = "\n".join(m.text for m in posted)
    assert account.token not in everything and "wrong-" not in everything


def sent_payloads(slack: DevSlack) -> list[Any]:
    """What the bot sent: every Web API call's arguments and every answer to Slack's requests
    (a view in an ack), JSON read where it came as a string."""
    payloads: list[Any] = [call.args for call in slack.calls()]
    for delivery in slack.deliveries:
        try:
            payloads.append(json.loads(delivery.response_text or "null"))
        except ValueError:
            continue
    return [_read_json_strings(payload) for payload in payloads]


def _read_json_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _read_json_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_read_json_strings(item) for item in value]
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return _read_json_strings(json.loads(value))
        except ValueError:
            return value
    return value


def test_a_company_name_with_a_line_break_and_a_url_stays_one_line_and_is_never_a_link(
    reporting: ManagerBot, slack: DevSlack, nmbrs: SandboxHandle
) -> None:
    nmbrs.accounts[DEMO_USERNAME].companies[0].name = "Gouden Korst B.V.\n\thttps://evil.example/x"
    manager, customer = slack.user(MANAGER), slack.user(CUSTOMER)
    invite_via_onboard(manager, SHARED, "Bakkerij de Vries")
    to_credentials(customer)
    companies = enter_credentials(customer, DEMO_USERNAME, DEMO_TOKEN)
    customer.fill(companies, {ACTION_COMPANIES: ["48201"]})
    customer.submit(companies)
    customer.submit(settled(customer, CALLBACK_OVER_ACCESS))
    assert "Gouden Korst B.V. https://evil.example/x" in json.dumps(settled(customer).blocks)
    manager.open_home()
    manager.command("/onboard", "status", channel=SHARED)
    completed = eventually(
        lambda: next((m for m in slack.messages(STATUS) if "evil.example" in m.text), None),
        timeout=15,
    )

    assert "Gouden Korst B.V. https://evil.example/x" in completed.text
    assert not_verbatim(completed.blocks) == []
    for payload in sent_payloads(slack):
        assert not_verbatim(payload) == [], payload
    posts = slack.calls("chat.postMessage")
    assert posts and all(
        (call.args["unfurl_links"], call.args["unfurl_media"]) == (False, False) for call in posts
    )
