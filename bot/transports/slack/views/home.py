"""The App Home tab for account managers: relinks to another Nmbrs environment to confirm, open
onboardings (stalled first) with their buttons, and the active links with an unlink button.
Pure; stays within Slack's 100 blocks."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.clock import WorkingCalendar
from bot.i18n import Catalogue, catalogue
from bot.reports import OnboardingSummary
from bot.transports.slack.mrkdwn import ONBOARD_COMMAND, bold, channel, code, escape, verbatim
from bot.transports.slack.views.manager import local_date, local_time, onboarding_line
from bot.transports.slack.views.reports import migration_line
from bot.usecases.manager import Dashboard, LinkRow, RelinkToConfirm

ACTION_RESEND = "home_resend"
ACTION_CANCEL = "home_cancel"
ACTION_LIFT_BLOCK = "home_lift_block"
ACTION_UNLINK = "home_unlink"
ACTION_CONFIRM_ENVIRONMENT = "home_confirm_environment"

# Two blocks per open onboarding, one per link and per relink to confirm, and room for
# headings: under 100 in all.
OPEN_ROWS_LIMIT = 30
LINK_ROWS_LIMIT = 25
RELINK_ROWS_LIMIT = 3


def home_view(
    dashboard: Dashboard,
    *,
    now: datetime,
    language: str,
    calendar: WorkingCalendar,
    notice: str | None = None,
) -> View:
    texts = catalogue(language)
    blocks: list[Block] = [
        HeaderBlock(text=texts.text("manager.home.title")),
        _context(texts.text("manager.home.updated", time=local_time(texts, calendar, now))),
    ]
    if notice:
        blocks.append(SectionBlock(text=verbatim(notice)))
    if dashboard.migration is not None and dashboard.migration.total:
        blocks.append(_context(migration_line(texts, dashboard.migration)))
    if dashboard.relinks:
        title = texts.text("manager.home.relinks_title", count=len(dashboard.relinks))
        blocks.append(HeaderBlock(text=title))
        blocks += [_relink_row(texts, row) for row in dashboard.relinks[:RELINK_ROWS_LIMIT]]
    blocks += [
        DividerBlock(),
        HeaderBlock(text=texts.text("manager.home.open_title", count=len(dashboard.open))),
    ]
    if not dashboard.open:
        blocks.append(_context(texts.text("manager.home.none_open", command=code(ONBOARD_COMMAND))))
    for row in dashboard.open[:OPEN_ROWS_LIMIT]:
        line = onboarding_line(texts, row, now=now, calendar=calendar)
        blocks += [SectionBlock(text=verbatim(line)), _row_actions(texts, row)]
    if len(dashboard.open) > OPEN_ROWS_LIMIT:
        more = len(dashboard.open) - OPEN_ROWS_LIMIT
        blocks.append(_context(texts.text("manager.home.more", count=more)))
    blocks += [
        DividerBlock(),
        HeaderBlock(text=texts.text("manager.home.links_title", count=len(dashboard.links))),
    ]
    if not dashboard.links:
        blocks.append(_context(texts.text("manager.home.none_links")))
    blocks += [_link_row(texts, link, calendar) for link in dashboard.links[:LINK_ROWS_LIMIT]]
    if len(dashboard.links) > LINK_ROWS_LIMIT:
        more = len(dashboard.links) - LINK_ROWS_LIMIT
        blocks.append(_context(texts.text("manager.home.more", count=more)))
    return View(type="home", blocks=blocks)


def not_a_manager_home(language: str) -> View:
    texts = catalogue(language)
    return View(
        type="home",
        blocks=[
            HeaderBlock(text=texts.text("manager.home.title")),
            SectionBlock(text=verbatim(texts.text("manager.home.not_a_manager"))),
        ],
    )


def notice_text(language: str, kind: str, *, client: str = "", error: str = "") -> str:
    """What the last button did, shown at the top of the refreshed home."""
    return catalogue(language).text(
        f"manager.home.notice_{kind}", client=bold(escape(client)), error=error
    )


def _row_actions(texts: Catalogue, row: OnboardingSummary) -> ActionsBlock:
    value = str(row.onboarding_id)
    client = bold(escape(row.client_name))
    buttons = [
        ButtonElement(action_id=ACTION_RESEND, text=texts.text("manager.home.resend"), value=value),
        ButtonElement(
            action_id=ACTION_CANCEL,
            text=texts.text("manager.home.cancel"),
            value=value,
            style="danger",
            confirm=_confirm(texts, "cancel", client),
        ),
    ]
    if row.blocked_until is not None:
        buttons.append(
            ButtonElement(
                action_id=ACTION_LIFT_BLOCK, text=texts.text("manager.home.lift"), value=value
            )
        )
    return ActionsBlock(block_id=f"onboarding_{value}", elements=buttons)


def _link_row(texts: Catalogue, link: LinkRow, calendar: WorkingCalendar) -> SectionBlock:
    client = bold(escape(link.client_name))
    text = texts.plural(
        "manager.home.link_row",
        link.companies,
        client=client,
        channel=channel(link.channel_id),
        date=local_date(texts, calendar, link.created_at),
    )
    return SectionBlock(
        block_id=f"link_{link.link_id}",
        text=verbatim(text),
        accessory=ButtonElement(
            action_id=ACTION_UNLINK,
            text=texts.text("manager.home.unlink"),
            value=str(link.link_id),
            style="danger",
            confirm=_confirm(texts, "unlink", client),
        ),
    )


def _relink_row(texts: Catalogue, row: RelinkToConfirm) -> SectionBlock:
    client = bold(escape(row.client_name))
    text = texts.text(
        "manager.home.relink_row",
        client=client,
        channel=channel(row.channel_id),
        login=code(row.login),
        environment=code(row.environment),
        previous_login=code(row.previous_login),
        previous_environment=code(row.previous_environment),
    )
    return SectionBlock(
        block_id=f"relink_{row.link_id}",
        text=verbatim(text),
        accessory=ButtonElement(
            action_id=ACTION_CONFIRM_ENVIRONMENT,
            text=texts.text("manager.home.confirm_environment"),
            value=str(row.link_id),
            style="primary",
            confirm=_confirm(texts, "relink", client),
        ),
    )


def _confirm(texts: Catalogue, what: str, client: str) -> ConfirmObject:
    return ConfirmObject(
        title=texts.text(f"manager.home.{what}_confirm_title"),
        text=verbatim(texts.text(f"manager.home.{what}_confirm_text", client=client)),
        confirm=texts.text(f"manager.home.confirm_{what}"),
        deny=texts.text("manager.home.deny"),
        style="danger",
    )


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[verbatim(text)])
