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

from bot.core.flow import OPEN_STATES, State
from bot.core.model import InviteStatus
from bot.i18n import catalogue
from bot.transports.slack.mrkdwn import bold, escape, mention, verbatim
from bot.transports.slack.views.links import link_actions, stop_button

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
    texts = catalogue(status.language)
    client = bold(escape(status.client_name))
    state = status.state
    if state == State.COMPLETED:
        line = texts.plural(
            "customer.invite.status.completed",
            status.companies_linked,
            user=mention(status.completed_by or ""),
        )
    elif state == State.HANDOFF:
        line = texts.text("customer.invite.status.handoff", phone=escape(status.support_phone))
    else:
        line = texts.text(f"customer.invite.status.{state}")
    blocks: list[Block] = [
        SectionBlock(text=verbatim(texts.text("customer.invite.intro", client=client))),
        ContextBlock(elements=[verbatim(line)]),
    ]
    if state in OPEN_STATES:
        label = "customer.invite.start" if state == State.INVITED else "customer.invite.continue"
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
    blocks.extend(link_actions(status))
    return InviteMessage(
        text=texts.text("customer.invite.text", client=status.client_name),
        blocks=[block.to_dict() for block in blocks],
    )
