"""What the customer and our people see of a link after the onboarding: pure builders.

- `link_view(outcome, private_metadata)`: the modal of a relink or company change. The screens
  it shares with the onboarding are drawn by `views.onboarding.render`, then given this
  module's callback and action ids, so their submissions and clicks reach the link listeners
  (listeners/links.py) and never the onboarding's.
- `stop_button(status)` and `link_actions(status)`: the customer's buttons on the invite message
  in the client's channel (stop an open onboarding; change companies or remove a completed
  link), each destructive one behind a confirm dialog.
- `LinkMessages`: the link notices (bot.reports.LinkEventNotices) drawn: a report in the status
  channel, the relink request with its button in the client's channel (and redrawn without it
  once the link works again), a direct message to the account manager when the customer stops
  or removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.events import (
    LinkCompaniesChanged,
    LinkEnvironmentConfirmed,
    LinkEnvironmentUnconfirmed,
    LinkEvent,
    LinkMovedToRest,
    LinkMoveRequested,
    LinkNeedsRelink,
    LinkOverAccessWarned,
    LinkRecovered,
    LinkRelinked,
    OnboardingStoppedByCustomer,
)
from bot.core.flow import State
from bot.core.link_flow import (
    REASON_COMPANIES_GONE,
    REASON_PERMISSIONS_MISSING,
    REASON_SOAP_ENDED,
)
from bot.core.matching import CompanyMatch
from bot.core.model import InviteStatus
from bot.core.screens import (
    CompanyChoiceScreen,
    CredentialsScreen,
    EnvironmentConfirmationScreen,
    Outcome,
    RelinkFirstScreen,
    StaleScreen,
)
from bot.i18n import Catalogue, catalogue
from bot.transports.slack.mrkdwn import (
    bold,
    channel,
    code,
    escape,
    is_person,
    mention,
    verbatim,
    with_lead,
)
from bot.transports.slack.views.onboarding import (
    ACTION_CHECK_AGAIN,
    ACTION_COMPANY_SEARCH,
    ACTION_CONSENT_AGAIN,
    ACTION_NARROW_FILTER,
    CALLBACK_COMPANIES,
    CALLBACK_CREDENTIALS,
    CALLBACK_OVER_ACCESS,
    render,
)

# Buttons on messages in the client's channel; their value is "<onboarding id>.<language>".
ACTION_RELINK = "link_relink"
ACTION_CHANGE_COMPANIES = "link_change_companies"
ACTION_REMOVE_LINK = "link_remove"
ACTION_STOP = "onboarding_stop"
BLOCK_LINK_ACTIONS = "link_actions"

# Modals of a relink or company change.
CALLBACK_LINK_CREDENTIALS = "link_credentials"
CALLBACK_LINK_COMPANIES = "link_companies"
CALLBACK_LINK_OVER_ACCESS = "link_over_access"
CALLBACK_LINK_INFO = "link_info"
ACTION_LINK_CHECK_AGAIN = "link_check_again"
ACTION_LINK_BACK = "link_back_to_choice"
ACTION_LINK_COMPANY_SEARCH = "link_search_companies"
ACTION_RELINK_HERE = "link_relink_here"
ACTION_LINK_OTHER_LOGIN = "link_other_login"

# The onboarding's ids in a shared screen, and what they become in a link modal.
CALLBACKS = {
    CALLBACK_CREDENTIALS: CALLBACK_LINK_CREDENTIALS,
    CALLBACK_COMPANIES: CALLBACK_LINK_COMPANIES,
    CALLBACK_OVER_ACCESS: CALLBACK_LINK_OVER_ACCESS,
}
ACTIONS = {
    ACTION_CHECK_AGAIN: ACTION_LINK_CHECK_AGAIN,
    # A relink by consent: approving again is its check again (back to the consent screen).
    ACTION_CONSENT_AGAIN: ACTION_LINK_CHECK_AGAIN,
    ACTION_NARROW_FILTER: ACTION_LINK_BACK,
    ACTION_COMPANY_SEARCH: ACTION_LINK_COMPANY_SEARCH,
}

LIST_LIMIT = 10


def button_value(onboarding_id: int, language: str) -> str:
    return f"{onboarding_id}.{language}"


def parse_button_value(value: str) -> tuple[int, str] | None:
    onboarding_id, _, language = value.partition(".")
    return (int(onboarding_id), language) if onboarding_id.isdigit() else None


# --- modals --------------------------------------------------------------------------------


def link_view(outcome: Outcome, *, private_metadata: str | None) -> dict[str, Any]:
    """The modal for a link use case's outcome, with the link listeners' ids."""
    texts = catalogue(outcome.language)
    screen = outcome.screen
    if isinstance(screen, RelinkFirstScreen):
        return _relink_first(texts, screen, private_metadata)
    if isinstance(screen, StaleScreen):
        return _info(texts, "stale", [_section(texts.text("links.modal.stale"))])
    if isinstance(screen, EnvironmentConfirmationScreen):
        return _confirm_environment(texts, screen, private_metadata)
    view = render(outcome, private_metadata=private_metadata).to_dict()
    if isinstance(screen, CredentialsScreen):
        intro = _section(with_lead(texts, "links.modal.relink_intro")).to_dict()
        view["blocks"].insert(0, intro)
    if isinstance(screen, CompanyChoiceScreen) and screen.matches:
        view["blocks"].insert(0, _section(_match_lines(texts, screen.matches)).to_dict())
    return retarget(view)


def _match_lines(texts: Catalogue, matches: Sequence[CompanyMatch]) -> str:
    """A line per linked company of a relink by consent: how it was found, or that it was
    not (at most LIST_LIMIT lines, then how many more)."""
    lines = [
        texts.text(
            f"links.modal.match_{match.how.value}",
            company=bold(escape(f"{match.linked.number} {match.linked.name}")),
        )
        for match in matches[:LIST_LIMIT]
    ]
    if len(matches) > LIST_LIMIT:
        lines.append(texts.plural("links.more", len(matches) - LIST_LIMIT))
    return with_lead(texts, "links.modal.matches", lines="\n".join(lines))


def retarget(view: dict[str, Any]) -> dict[str, Any]:
    """A shared screen with the link modals' callback and action ids, and no close notice
    (a closed relink keeps its progress with the onboarding)."""
    view["callback_id"] = CALLBACKS.get(view.get("callback_id", ""), CALLBACK_LINK_INFO)
    view.pop("notify_on_close", None)
    for block in view.get("blocks", []):
        for element in [block.get("element"), block.get("accessory"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("action_id") in ACTIONS:
                element["action_id"] = ACTIONS[element["action_id"]]
    return view


def _relink_first(
    texts: Catalogue, screen: RelinkFirstScreen, private_metadata: str | None
) -> dict[str, Any]:
    blocks: list[Block] = [
        _section(texts.text("links.modal.relink_first", reason=_reason(texts, screen.reason))),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ACTION_RELINK_HERE,
                    text=texts.text("links.button.relink"),
                    style="primary",
                )
            ]
        ),
    ]
    view = _info(texts, "relink_first", blocks)
    view["private_metadata"] = private_metadata
    return view


def _confirm_environment(
    texts: Catalogue, screen: EnvironmentConfirmationScreen, private_metadata: str | None
) -> dict[str, Any]:
    text = texts.text(
        "links.modal.confirm_environment",
        new=code(screen.new_domain),
        old=code(screen.link_domain),
    )
    blocks: list[Block] = [
        _section(text),
        ActionsBlock(
            elements=[
                ButtonElement(
                    action_id=ACTION_LINK_OTHER_LOGIN, text=texts.text("links.button.other_login")
                )
            ]
        ),
    ]
    view = _info(texts, "confirm_environment", blocks)
    view["private_metadata"] = private_metadata
    return view


def _info(texts: Catalogue, title: str, blocks: Sequence[Block]) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=CALLBACK_LINK_INFO,
        title=texts.text(f"links.modal.title_{title}"),
        close=texts.text("customer.modal.close"),
        blocks=list(blocks),
    ).to_dict()


# --- the invite message's buttons ----------------------------------------------------------


def stop_button(status: InviteStatus) -> ButtonElement:
    """Next to Start: stop the onboarding (confirmed first)."""
    texts = catalogue(status.language)
    return ButtonElement(
        action_id=ACTION_STOP,
        text=texts.text("links.button.stop"),
        value=button_value(status.onboarding_id, status.language),
        confirm=_confirm(texts, "stop", status.client_name),
    )


def link_actions(status: InviteStatus) -> list[Block]:
    """Under a completed onboarding: change the companies, or remove the link (confirmed)."""
    if status.state != State.COMPLETED:
        return []
    texts = catalogue(status.language)
    value = button_value(status.onboarding_id, status.language)
    return [
        ActionsBlock(
            block_id=BLOCK_LINK_ACTIONS,
            elements=[
                ButtonElement(
                    action_id=ACTION_CHANGE_COMPANIES,
                    text=texts.text("links.button.change_companies"),
                    value=value,
                ),
                ButtonElement(
                    action_id=ACTION_REMOVE_LINK,
                    text=texts.text("links.button.remove_link"),
                    value=value,
                    style="danger",
                    confirm=_confirm(texts, "remove", status.client_name),
                ),
            ],
        )
    ]


def _confirm(texts: Catalogue, what: str, client_name: str) -> ConfirmObject:
    return ConfirmObject(
        title=texts.text(f"links.confirm.{what}_title"),
        text=verbatim(texts.text(f"links.confirm.{what}_text", client=bold(escape(client_name)))),
        confirm=texts.text(f"links.confirm.{what}_yes"),
        deny=texts.text("links.confirm.no"),
        style="danger",
    )


def answer_text(language: str, kind: str) -> str:
    """What the customer is told (ephemeral) after pressing stop or remove."""
    return catalogue(language).text(f"links.answer.{kind}")


# --- messages ------------------------------------------------------------------------------


class LinkMessages:
    """The Slack text (and blocks) of the notices of link events, in `language`."""

    def __init__(self, *, language: str):
        self.texts = catalogue(language)

    def report(self, event: LinkEvent) -> str:
        texts = self.texts
        values = {
            "client": bold(escape(event.client_name)),
            "channel": channel(event.channel_id),
            "actor": self._actor(event.actor),
            "count": len(event.companies),
            "companies": _short_list(texts, (escape(name) for name in event.companies)),
            "added": _short_list(texts, (escape(name) for name in event.added)) or "-",
            "removed": _short_list(texts, (escape(name) for name in event.removed)) or "-",
            "login": code(event.username or "-"),
            "previous_login": code(event.previous_username or "-"),
            "environment": code(event.environment or "-"),
            "previous_environment": code(event.previous_environment or "-"),
        }
        if event.kind == LinkNeedsRelink.kind:
            values["reason"] = _reason(texts, event.reason or "", event)
        if event.kind == LinkMoveRequested.kind:
            values["date"] = _iso_date(texts, event.soap_ends_on)
        if event.kind == LinkOverAccessWarned.kind:
            # Counted: the companies the login has access to, of which the client chose some.
            values.update(count=event.companies_seen, chosen=len(event.companies))
        text = texts.text(f"links.report.{_REPORT_KEYS[event.kind]}", **values)
        if event.kind == LinkRelinked.kind and event.environment != event.previous_environment:
            text += " " + texts.text("links.report.relinked_environment", **values)
        if event.kind == LinkRelinked.kind and event.removed:
            text += " " + texts.text("links.report.relinked_dropped", removed=values["removed"])
        return text

    def relink_request(self, event: LinkEvent) -> tuple[str, list[dict[str, Any]]]:
        """The request in the client's channel, with its relink button."""
        texts = self.texts
        if event.reason == REASON_SOAP_ENDED:
            # The relink is the consent at Nmbrs: no username or token to fill in.
            text = with_lead(texts, "links.channel.needs_relink_soap_ended")
        else:
            text = with_lead(
                texts,
                "links.channel.needs_relink",
                reason=_reason(texts, event.reason or "", event),
            )
        return texts.text("links.channel.needs_relink_short"), self._with_relink_button(event, text)

    def move_request(self, event: LinkEvent) -> tuple[str, list[dict[str, Any]]]:
        """The request in the client's channel to move the link to the REST API, with the
        relink button (which opens the relink by consent)."""
        texts = self.texts
        ends_on = _iso_date(texts, event.soap_ends_on)
        text = with_lead(texts, "links.channel.move_request", date=ends_on)
        short = texts.text("links.channel.move_request_short", date=ends_on)
        return short, self._with_relink_button(event, text)

    def _with_relink_button(self, event: LinkEvent, text: str) -> list[dict[str, Any]]:
        texts = self.texts
        blocks: list[Block] = [
            _section(text),
            ActionsBlock(
                block_id=BLOCK_LINK_ACTIONS,
                elements=[
                    ButtonElement(
                        action_id=ACTION_RELINK,
                        text=texts.text("links.button.relink"),
                        value=button_value(event.onboarding_id, event.language),
                        style="primary",
                    )
                ],
            ),
        ]
        return [b.to_dict() for b in blocks]

    def request_settled(self, event: LinkEvent) -> tuple[str, list[dict[str, Any]]]:
        """The relink request redrawn without its button once the link works again."""
        texts = self.texts
        key = "relinked" if event.kind in (LinkRelinked.kind, LinkMovedToRest.kind) else "recovered"
        text = texts.text(f"links.channel.{key}", user=mention(event.actor))
        return text, [_section(text).to_dict()]

    def manager_message(self, event: LinkEvent) -> str:
        """The direct message to the account manager when the customer stops or removes."""
        key = "stopped" if event.kind == OnboardingStoppedByCustomer.kind else "removed"
        text = self.texts.text(
            f"links.manager.{key}",
            actor=self._actor(event.actor),
            client=bold(escape(event.client_name)),
            channel=channel(event.channel_id),
        )
        return text

    def _actor(self, actor: str) -> str:
        return mention(actor) if is_person(actor) else self.texts.text("links.report.system_actor")


_REPORT_KEYS = {
    LinkNeedsRelink.kind: "needs_relink",
    LinkRecovered.kind: "recovered",
    LinkRelinked.kind: "relinked",
    LinkEnvironmentUnconfirmed.kind: "environment_unconfirmed",
    LinkEnvironmentConfirmed.kind: "environment_confirmed",
    LinkCompaniesChanged.kind: "companies_changed",
    LinkOverAccessWarned.kind: "over_access",
    LinkMoveRequested.kind: "move_requested",
    LinkMovedToRest.kind: "moved_to_rest",
}


def _iso_date(texts: Catalogue, iso: str | None) -> str:
    """A day given as ISO 8601, in the catalogue's language ("-" when missing)."""
    return texts.date(date.fromisoformat(iso)) if iso else "-"


def _reason(texts: Catalogue, reason: str, event: LinkEvent | None = None) -> str:
    key = f"links.reason.{reason}"
    if key not in texts:
        return texts.text("links.reason.unknown")
    values: dict[str, str] = {}
    if event is not None and reason == REASON_PERMISSIONS_MISSING:
        values["permissions"] = _short_list(texts, (code(p) for p in event.missing_permissions))
    if event is not None and reason == REASON_COMPANIES_GONE:
        values["companies"] = _short_list(texts, (escape(n) for n in event.companies_gone))
    if not values and reason in (REASON_PERMISSIONS_MISSING, REASON_COMPANIES_GONE):
        return texts.text(f"links.reason.{reason}_short")
    return texts.text(key, **values)


def _short_list(texts: Catalogue, items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:LIST_LIMIT])
    if len(items) > LIST_LIMIT:
        shown += " " + texts.plural("links.more", len(items) - LIST_LIMIT)
    return shown


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=verbatim(text))
