"""The invite message in the client's channel: a Start button, redrawn as the onboarding moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    SectionBlock,
)

from bot.core.flow import State
from bot.core.invite import InviteAction, InviteScreen, invite_screen
from bot.core.model import InviteStatus
from bot.i18n import Catalogue, catalogue
from bot.transports.slack.mrkdwn import bold, button_label, escape, mention, verbatim
from bot.transports.slack.views.links import link_actions, stop_button
from bot.transports.slack.views.onboarding import choose_again_button, step_text

ACTION_START = "start_onboarding"
BLOCK_INVITE_ACTIONS = "invite_actions"


@dataclass(frozen=True)
class InviteMessage:
    text: str
    blocks: list[dict[str, Any]]


def start_value(onboarding_id: int, language: str) -> str:
    return f"{onboarding_id}.{language}"


def parse_start_value(value: str) -> tuple[int, str] | None:
    onboarding_id, _, language = value.partition(".")
    return (int(onboarding_id), language) if onboarding_id.isdigit() else None


def invite_message(status: InviteStatus) -> InviteMessage:
    """One copy of the invite, drawn from its neutral screen (bot.core.invite)."""
    screen = invite_screen(status)
    texts = catalogue(screen.language)
    blocks: list[Block] = [
        SectionBlock(
            text=verbatim(
                texts.text("customer.invite.intro", client=bold(escape(screen.client_name)))
            )
        )
    ]
    people = _people_line(texts, screen)
    if people:
        blocks.append(ContextBlock(elements=[verbatim(people)]))
    blocks.append(ContextBlock(elements=[verbatim(_status_line(texts, screen))]))
    actions = set(screen.actions)
    if actions & {InviteAction.START, InviteAction.CONTINUE}:
        label = (
            "customer.invite.start" if InviteAction.START in actions else "customer.invite.continue"
        )
        blocks.append(
            ActionsBlock(
                block_id=BLOCK_INVITE_ACTIONS,
                elements=[
                    ButtonElement(
                        action_id=ACTION_START,
                        text=texts.text(label),
                        value=start_value(status.onboarding_id, status.language),
                        style="primary",
                    ),
                    stop_button(status),
                ],
            )
        )
    if InviteAction.CHANGE_COMPANIES in actions:
        blocks.extend(link_actions(status))
    if InviteAction.CHOOSE_AGAIN in actions:
        value = start_value(status.onboarding_id, status.language)
        blocks.append(
            ActionsBlock(
                block_id=BLOCK_INVITE_ACTIONS, elements=[choose_again_button(texts, value=value)]
            )
        )
    return InviteMessage(
        text=texts.text("customer.invite.text", client=screen.client_name),
        blocks=[block.to_dict() for block in blocks],
    )


def _status_line(texts: Catalogue, screen: InviteScreen) -> str:
    if screen.superseded is not None:
        return texts.text(f"customer.invite.superseded.{screen.superseded}")
    if screen.waiting is not None and screen.step is not None:
        key = f"customer.invite.waiting.{screen.waiting}"
        values = {
            "step": step_text(texts, screen.step),
            "continue": button_label(texts, "customer.invite.continue"),
            "check_again": button_label(texts, "customer.modal.check_again"),
        }
        if f"{key}.other" in texts:
            return texts.plural(key, screen.waiting_count, **values)
        return texts.text(key, **values)
    state = screen.state
    if state == State.COMPLETED:
        return texts.plural(
            "customer.invite.status.completed",
            screen.companies_linked,
            user=mention(screen.completed_by or ""),
        )
    if state == State.HANDOFF:
        return texts.text("customer.invite.status.handoff", phone=escape(screen.support_phone))
    return texts.text(f"customer.invite.status.{state}")


def _people_line(texts: Catalogue, screen: InviteScreen) -> str | None:
    """Who the invite is for (mentioned, so they are told) and their account manager."""
    if screen.superseded is not None:
        return None
    if screen.contact and screen.manager:
        return texts.text(
            "customer.invite.people.both",
            contact=mention(screen.contact),
            manager=mention(screen.manager),
        )
    if screen.manager:
        return texts.text("customer.invite.people.manager", manager=mention(screen.manager))
    if screen.contact:
        return texts.text("customer.invite.people.contact", contact=mention(screen.contact))
    return None
