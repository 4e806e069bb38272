"""The App Home tab for account managers: a button to start an onboarding, relinks to another
Nmbrs environment to confirm, the handoffs to deal with (a to-do list), open onboardings (stalled
first, coloured by how they are doing, with their owner) with their buttons, and the active
links with their companies, last check and an unlink button.

Pure. Stays within Slack's limits: every list is capped ("… and N more"), so the view never
passes 100 blocks, and a list of names inside a text is capped too."""

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
from bot.core.link_flow import LinkStatus
from bot.core.payroll import NMBRS_REST
from bot.i18n import Catalogue, catalogue
from bot.reports import OnboardingSummary
from bot.transports.slack.mrkdwn import (
    ONBOARD_COMMAND,
    bold,
    channel,
    code,
    escape,
    is_person,
    mention,
    verbatim,
)
from bot.transports.slack.views.manager import local_date, local_time, onboarding_line
from bot.transports.slack.views.reports import health_marker, migration_line
from bot.usecases.manager import Dashboard, HandoffToDo, LinkRow, RelinkToConfirm

ACTION_RESEND = "home_resend"
ACTION_CANCEL = "home_cancel"
ACTION_LIFT_BLOCK = "home_lift_block"
ACTION_UNLINK = "home_unlink"
ACTION_CONFIRM_ENVIRONMENT = "home_confirm_environment"
ACTION_NEW_ONBOARDING = "home_new_onboarding"
ACTION_HANDOFF_DONE = "home_handoff_done"

# Slack shows at most 100 blocks in a Home view. The fixed blocks (title, updated, the new
# onboarding button, a notice, the migration line, the headings, dividers and "more" lines)
# take at most 18; one block per relink and per to-do, two per open onboarding and per link.
HOME_BLOCK_LIMIT = 100
RELINK_ROWS_LIMIT = 3
TODO_ROWS_LIMIT = 10
OPEN_ROWS_LIMIT = 20
LINK_ROWS_LIMIT = 12
# Company names shown per link, and how long one may be.
LINK_NAMES_LIMIT = 5
NAME_LIMIT = 60


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
        ActionsBlock(
            block_id="home_tools",
            elements=[
                ButtonElement(
                    action_id=ACTION_NEW_ONBOARDING,
                    text=texts.text("manager.desk.new_onboarding"),
                    style="primary",
                )
            ],
        ),
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
        HeaderBlock(text=texts.plural("manager.desk.todo_title", len(dashboard.todo))),
    ]
    if not dashboard.todo:
        blocks.append(_context(texts.text("manager.desk.none_todo")))
    blocks += [_todo_row(texts, row, calendar) for row in dashboard.todo[:TODO_ROWS_LIMIT]]
    blocks += _more(texts, len(dashboard.todo), TODO_ROWS_LIMIT)
    blocks += [
        DividerBlock(),
        HeaderBlock(text=texts.text("manager.home.open_title", count=len(dashboard.open))),
    ]
    if not dashboard.open:
        blocks.append(_context(texts.text("manager.home.none_open", command=code(ONBOARD_COMMAND))))
    for row in dashboard.open[:OPEN_ROWS_LIMIT]:
        line = onboarding_line(texts, row, now=now, calendar=calendar)
        blocks += [SectionBlock(text=verbatim(line)), _row_actions(texts, row)]
    blocks += _more(texts, len(dashboard.open), OPEN_ROWS_LIMIT)
    blocks += [
        DividerBlock(),
        HeaderBlock(text=texts.text("manager.home.links_title", count=len(dashboard.links))),
    ]
    if not dashboard.links:
        blocks.append(_context(texts.text("manager.home.none_links")))
    for link in dashboard.links[:LINK_ROWS_LIMIT]:
        blocks += [_link_row(texts, link, calendar), _link_details(texts, link, calendar)]
    blocks += _more(texts, len(dashboard.links), LINK_ROWS_LIMIT)
    assert len(blocks) <= HOME_BLOCK_LIMIT, len(blocks)
    return View(type="home", blocks=blocks)


def _more(texts: Catalogue, total: int, shown: int) -> list[Block]:
    if total <= shown:
        return []
    return [_context(texts.text("manager.home.more", count=total - shown))]


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


def _link_details(texts: Catalogue, link: LinkRow, calendar: WorkingCalendar) -> ContextBlock:
    """The companies by name, the last good check, the login and the API; a link that needs
    relinking says so first."""
    names = [escape(_shorten(name, NAME_LIMIT)) for name in link.company_names[:LINK_NAMES_LIMIT]]
    companies = texts.text("reports.list_separator").join(names)
    if len(link.company_names) > LINK_NAMES_LIMIT:
        more = texts.text("reports.more", count=len(link.company_names) - LINK_NAMES_LIMIT)
        companies = f"{companies} {more}"
    verified = (
        texts.text(
            "manager.desk.verified",
            date=local_date(texts, calendar, link.verified_at),
            time=local_time(texts, calendar, link.verified_at),
        )
        if link.verified_at is not None
        else texts.text("manager.desk.never_verified")
    )
    api = "rest" if link.provider == NMBRS_REST else "soap"
    text = texts.text(
        "manager.desk.link_details",
        companies=companies or "-",
        verified=verified,
        login=code(link.login),
        api=texts.text(f"manager.desk.api_{api}"),
    )
    if link.status == LinkStatus.NEEDS_RELINK.value:
        text = f"{texts.text('manager.desk.needs_relink')} {text}"
    return _context(text)


def _todo_row(texts: Catalogue, row: HandoffToDo, calendar: WorkingCalendar) -> SectionBlock:
    client = bold(escape(row.client_name))
    package = texts.get(f"customer.terms.packages.{row.package}", row.package or "")
    reason_key = f"reports.handoff_reason.{row.reason}"
    reason = texts.text(reason_key, package=package) if reason_key in texts else row.reason
    contact = (
        texts.text("manager.desk.contact", contact=mention(row.contact_user_id))
        if row.contact_user_id
        else ""
    )
    text = texts.text(
        "manager.desk.todo_row",
        marker=health_marker(texts, "handoff"),
        client=client,
        channel=channel(row.channel_id),
        reason=reason,
        owner=_owner(texts, row.owner),
        date=local_date(texts, calendar, row.handed_off_at),
        contact=contact,
    )
    return SectionBlock(
        block_id=f"todo_{row.onboarding_id}",
        text=verbatim(text),
        accessory=ButtonElement(
            action_id=ACTION_HANDOFF_DONE,
            text=texts.text("manager.desk.done"),
            value=str(row.onboarding_id),
        ),
    )


def _owner(texts: Catalogue, owner: str) -> str:
    return mention(owner) if is_person(owner) else texts.text("manager.desk.no_owner")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
