"""The account manager's `/onboard` surfaces: the start modal, its result screens, the help and
refusal texts and the status list. Pure functions; ids are module constants the listeners match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    ConversationSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.clock import WorkingCalendar
from bot.core.flow import MAIN_LINE
from bot.core.model import InviteStatus, StartRequest
from bot.i18n import LANGUAGES, Catalogue, catalogue
from bot.reports import STALLED, WAITING, OnboardingSummary
from bot.transports.slack.mrkdwn import (
    ONBOARD_COMMAND,
    bold,
    button_label,
    channel,
    code,
    escape,
    is_person,
    mention,
    verbatim,
    with_lead,
)
from bot.usecases.invites import (
    ALREADY_RUNNING,
    BOT_NOT_IN_CHANNEL,
    POST_FAILED,
    SOAP_ENDED,
    StartResult,
)

CALLBACK_START = "manager_start"
CALLBACK_RESULT = "manager_result"

BLOCK_CLIENT = "client_name"
BLOCK_CHANNEL = "channel"
BLOCK_CONTACT = "contact"
BLOCK_LANGUAGE = "language"
ACTION_VALUE = "value"

ACTION_RETRY = "manager_retry"
ACTION_RESEND_RUNNING = "manager_resend_running"
ACTION_REPLACE = "manager_replace"

CLIENT_NAME_LIMIT = 200
STATUS_ROWS_LIMIT = 20
STEPS = len(MAIN_LINE)


# --- texts --------------------------------------------------------------------------------


def help_text(language: str) -> str:
    texts = catalogue(language)
    return with_lead(
        texts,
        "manager.command.help",
        command=code(ONBOARD_COMMAND),
        status_command=code(f"{ONBOARD_COMMAND} status"),
        help_command=code(f"{ONBOARD_COMMAND} help"),
        app_home=bold(texts.text("manager.command.app_home")),
    )


def refusal_text(language: str, reason: str) -> str:
    return catalogue(language).text(
        f"manager.command.refused_{reason}", command=code(ONBOARD_COMMAND)
    )


def failure_text(language: str) -> str:
    return catalogue(language).text("manager.command.failed")


def ended_text(language: str, state: str) -> str:
    texts = catalogue(language)
    return texts.text("manager.result.ended", state=state_label(texts, state))


def resend_failed_text(language: str, error: str) -> str:
    return catalogue(language).text("manager.home.notice_failed", error=error)


def dm_text(status: InviteStatus) -> str:
    """The direct message to the client's contact, in the client's language."""
    texts = catalogue(status.language)
    return texts.text(
        "manager.dm.invite",
        channel=channel(status.channel_id),
        client=bold(escape(status.client_name)),
        start=button_label(texts, "customer.invite.start"),
    )


def duration(texts: Catalogue, elapsed: timedelta) -> str:
    """How long ago ("zojuist", "5 minuten geleden", "2 dagen geleden")."""
    minutes = max(int(elapsed.total_seconds() // 60), 0)
    if minutes < 1:
        return texts.text("manager.age.just_now")
    if minutes < 60:
        return texts.plural("manager.age.minutes", minutes)
    if minutes < 48 * 60:
        return texts.plural("manager.age.hours", minutes // 60)
    return texts.plural("manager.age.days", minutes // (24 * 60))


def local_time(texts: Catalogue, calendar: WorkingCalendar, moment: datetime) -> str:
    """A moment's time of day in the calendar's time zone, as the language writes it."""
    return texts.time(moment, calendar.zone)


def local_date(texts: Catalogue, calendar: WorkingCalendar, moment: datetime) -> str:
    """A moment's day in the calendar's time zone, as the language writes it."""
    return texts.date(moment, calendar.zone)


def state_label(texts: Catalogue, state: str) -> str:
    return texts.get(f"reports.state.{state}", state)


def onboarding_line(
    texts: Catalogue, row: OnboardingSummary, *, now: datetime, calendar: WorkingCalendar
) -> str:
    """One onboarding: coloured by how it is doing, client, state, step, age, last activity (and
    a block, if any), how it is doing when that is not simply running, and its owner."""
    line = texts.text(
        "manager.status.row",
        marker=texts.text(f"reports.health_marker.{row.health}") + " ",
        client=bold(escape(row.client_name)),
        channel=channel(row.channel_id),
        state=state_label(texts, row.state),
        step=row.step or "-",
        steps=STEPS,
        age=duration(texts, now - row.created_at),
        activity=duration(texts, now - row.last_activity_at),
    )
    if row.blocked_until is not None:
        line += texts.text(
            "manager.status.blocked", until=local_time(texts, calendar, row.blocked_until)
        )
    elif row.health in (WAITING, STALLED):
        line += texts.text("manager.desk.health", health=texts.text(f"reports.health.{row.health}"))
    if is_person(row.owner):
        line += texts.text("manager.desk.owner", owner=mention(row.owner))
    return line


def status_message(
    rows: Sequence[OnboardingSummary], *, now: datetime, language: str, calendar: WorkingCalendar
) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral `/onboard status` answer: text and blocks (rows arrive stalled first)."""
    texts = catalogue(language)
    if not rows:
        text = texts.text("manager.status.none")
        return text, [SectionBlock(text=verbatim(text)).to_dict()]
    title = with_lead(texts, "manager.status.title", count=len(rows))
    blocks: list[Block] = [SectionBlock(text=verbatim(title))]
    blocks += [
        SectionBlock(text=verbatim(onboarding_line(texts, row, now=now, calendar=calendar)))
        for row in rows[:STATUS_ROWS_LIMIT]
    ]
    if len(rows) > STATUS_ROWS_LIMIT:
        more = texts.text("manager.status.more", count=len(rows) - STATUS_ROWS_LIMIT)
        blocks.append(ContextBlock(elements=[verbatim(more)]))
    return title, [block.to_dict() for block in blocks]


# --- the start modal ----------------------------------------------------------------------


def start_modal(language: str, *, default_language: str, channel_id: str | None = None) -> View:
    texts = catalogue(language)
    language_options = [
        Option(value=code, text=texts.text(f"manager.start.language_{code}")) for code in LANGUAGES
    ]
    initial_language = next(
        option for option in language_options if option.value == default_language
    )
    return View(
        type="modal",
        callback_id=CALLBACK_START,
        title=texts.text("manager.start.title"),
        submit=texts.text("manager.start.submit"),
        close=texts.text("manager.start.close"),
        blocks=[
            InputBlock(
                block_id=BLOCK_CLIENT,
                label=texts.text("manager.start.client_label"),
                element=PlainTextInputElement(
                    action_id=ACTION_VALUE,
                    placeholder=texts.text("manager.start.client_placeholder"),
                    max_length=CLIENT_NAME_LIMIT,
                ),
            ),
            InputBlock(
                block_id=BLOCK_CHANNEL,
                label=texts.text("manager.start.channel_label"),
                hint=texts.text("manager.start.channel_hint"),
                element=ConversationSelectElement(
                    action_id=ACTION_VALUE,
                    placeholder=texts.text("manager.start.channel_placeholder"),
                    initial_conversation=channel_id,
                    filter={"include": ["public", "private"], "exclude_bot_users": True},
                ),
            ),
            InputBlock(
                block_id=BLOCK_CONTACT,
                optional=True,
                label=texts.text("manager.start.contact_label"),
                hint=texts.text("manager.start.contact_hint"),
                element=UserSelectElement(
                    action_id=ACTION_VALUE,
                    placeholder=texts.text("manager.start.contact_placeholder"),
                ),
            ),
            InputBlock(
                block_id=BLOCK_LANGUAGE,
                label=texts.text("manager.start.language_label"),
                element=StaticSelectElement(
                    action_id=ACTION_VALUE,
                    options=language_options,
                    initial_option=initial_language,
                ),
            ),
        ],
    )


def read_start(values: dict[str, Any], language: str) -> tuple[StartRequest | None, dict[str, str]]:
    """The request in a submitted start modal, or the inline errors by block id."""
    texts = catalogue(language)

    def field(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get(ACTION_VALUE) or {}

    client_name = " ".join((field(BLOCK_CLIENT).get("value") or "").split())
    channel_id = field(BLOCK_CHANNEL).get("selected_conversation")
    contact = field(BLOCK_CONTACT).get("selected_user")
    chosen_language = (field(BLOCK_LANGUAGE).get("selected_option") or {}).get("value")
    errors = {}
    if not client_name:
        errors[BLOCK_CLIENT] = texts.text("manager.start.client_required")
    elif len(client_name) > CLIENT_NAME_LIMIT:
        errors[BLOCK_CLIENT] = texts.plural("manager.start.client_too_long", CLIENT_NAME_LIMIT)
    if errors or not channel_id:
        return None, errors
    return (
        StartRequest(
            client_name=client_name,
            channel_id=channel_id,
            language=chosen_language if chosen_language in LANGUAGES else language,
            contact_user_id=contact or None,
        ),
        {},
    )


def encode_request(request: StartRequest) -> str:
    """A start request as private_metadata (well under Slack's 3000 characters)."""
    return json.dumps(
        {
            "client": request.client_name,
            "channel": request.channel_id,
            "language": request.language,
            "contact": request.contact_user_id,
        },
        separators=(",", ":"),
    )


def decode_request(private_metadata: str | None) -> StartRequest | None:
    try:
        data = json.loads(private_metadata or "")
        return StartRequest(
            client_name=str(data["client"])[:CLIENT_NAME_LIMIT],
            channel_id=str(data["channel"]),
            language=data["language"] if data["language"] in LANGUAGES else LANGUAGES[0],
            contact_user_id=data.get("contact") or None,
        )
    except (ValueError, KeyError, TypeError):
        return None


# --- result screens -------------------------------------------------------------------------


def working_modal(language: str) -> View:
    texts = catalogue(language)
    return _result_modal(texts, "manager.start.title", [texts.text("manager.start.working")])


def start_result_modal(result: StartResult, language: str, *, bot_name: str, now: datetime) -> View:
    texts = catalogue(language)
    request = result.request
    channel_link = channel(request.channel_id)
    if result.kind == SOAP_ENDED:
        return _result_modal(
            texts,
            "manager.result.title_failed",
            [texts.text("manager.result.soap_ended", ended_on=_day(texts, result.error))],
        )
    if result.kind == BOT_NOT_IN_CHANNEL:
        return _result_modal(
            texts,
            "manager.result.title_not_in_channel",
            [
                texts.text(
                    "manager.result.not_in_channel",
                    channel=channel_link,
                    invite_command=code(texts.text("manager.result.invite_command", bot=bot_name)),
                    integrations=bold(texts.text("manager.result.integrations")),
                    add_app=bold(texts.text("manager.result.add_app")),
                    try_again=button_label(texts, "manager.result.try_again"),
                )
            ],
            actions=[
                ButtonElement(
                    action_id=ACTION_RETRY,
                    text=texts.text("manager.result.try_again"),
                    style="primary",
                )
            ],
            metadata=encode_request(request),
        )
    if result.kind == ALREADY_RUNNING:
        running = result.running
        assert running is not None
        text = texts.text(
            "manager.result.running",
            channel=channel_link,
            client=bold(escape(running.client_name)),
            state=state_label(texts, running.state),
            age=duration(texts, now - running.created_at),
        )
        replace_confirm = ConfirmObject(
            title=texts.text("manager.result.replace_confirm_title"),
            text=verbatim(
                texts.text(
                    "manager.result.replace_confirm_text",
                    client=bold(escape(running.client_name)),
                    new_client=bold(escape(request.client_name)),
                )
            ),
            confirm=texts.text("manager.result.confirm_replace"),
            deny=texts.text("manager.result.deny"),
            style="danger",
        )
        return _result_modal(
            texts,
            "manager.result.title_running",
            [text],
            actions=[
                ButtonElement(
                    action_id=ACTION_RESEND_RUNNING,
                    text=texts.text("manager.result.resend"),
                    value=str(running.onboarding_id),
                    style="primary",
                ),
                ButtonElement(
                    action_id=ACTION_REPLACE,
                    text=texts.text("manager.result.replace"),
                    value=str(running.onboarding_id),
                    style="danger",
                    confirm=replace_confirm,
                ),
            ],
            metadata=encode_request(request),
        )
    if result.kind == POST_FAILED:
        return _result_modal(
            texts,
            "manager.result.title_failed",
            [
                texts.text(
                    "manager.result.post_failed",
                    channel=channel_link,
                    error=code(str(result.error)),
                )
            ],
        )
    lines = [
        texts.text(
            "manager.result.started",
            client=bold(escape(request.client_name)),
            channel=channel_link,
        )
    ]
    contact = mention(request.contact_user_id or "")
    if result.dm_sent:
        lines.append(texts.text("manager.result.dm_sent", contact=contact))
    if result.dm_error:
        lines.append(
            texts.text("manager.result.dm_failed", contact=contact, error=code(result.dm_error))
        )
    if result.not_externally_shared:
        lines.append(texts.text("manager.result.not_shared", channel=channel_link))
    return _result_modal(texts, "manager.result.title_started", lines)


def resent_modal(status: InviteStatus, language: str) -> View:
    texts = catalogue(language)
    text = texts.text(
        "manager.result.resent",
        client=bold(escape(status.client_name)),
        channel=channel(status.channel_id),
    )
    return _result_modal(texts, "manager.result.title_resent", [text])


def failed_modal(language: str, text: str) -> View:
    return _result_modal(catalogue(language), "manager.result.title_failed", [text])


def _result_modal(
    texts: Catalogue,
    title_key: str,
    lines: Sequence[str],
    *,
    actions: Sequence[ButtonElement] = (),
    metadata: str | None = None,
) -> View:
    blocks: list[Block] = [SectionBlock(text=verbatim(line)) for line in lines]
    if actions:
        blocks.append(ActionsBlock(elements=list(actions)))
    return View(
        type="modal",
        callback_id=CALLBACK_RESULT,
        title=texts.text(title_key),
        close=texts.text("manager.result.close"),
        private_metadata=metadata,
        blocks=blocks,
    )


def _day(texts: Catalogue, iso: str | None) -> str:
    """A day the use case gives as ISO 8601, in the client's language ("-" when missing)."""
    return texts.date(date.fromisoformat(iso)) if iso else "-"
