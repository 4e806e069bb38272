"""The routines the onboarding modals and the link modals share, parameterised by their signer
(each kind of modal signs its private_metadata with a key of its own), the use case and the view
builder that draws an Outcome.

- `submit_step(...)`: a view submission: verify the signed private_metadata, read the form,
  answer inline errors, run the step and answer with the next screen (see
  bot.transports.slack.answers.answer_submission), then redraw the invite message.
- `open_modal(...)`: a button in the channel: open the modal with the screen the use case
  answers, or, when the process is busy or the screen is not ready soon enough (a trigger
  lives 3 s), with a working view that the screen then replaces.
- `press_modal_button(...)`: a button in a modal: optionally keeps what the form held, runs the
  step and shows the next screen; a step that calls Nmbrs shows a working view first. The
  view's hash makes the second of a double click lose.
- `push_screen(...)`: a button that opens a screen on top of the modal (views.push), which
  closing takes away again, with the form below as it was.
- `suggest_companies(...)`: the company type-ahead: the companies matching what was typed, or
  none when the metadata is not ours or the answer is not ready within
  SUGGESTION_TIMEOUT_SECONDS (Slack waits 3 s for options, counted to the answer's arrival).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import Actor, Company, StepRef
from bot.core.screens import Outcome
from bot.i18n import DEFAULT_LANGUAGE
from bot.transports.slack.answers import (
    actor_from,
    answer_submission,
    replace_view,
    run_blocking,
    run_use_case,
    working,
)
from bot.transports.slack.forms import Form, read_form
from bot.transports.slack.http import request_arrived
from bot.transports.slack.invites import refresh_invite
from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.views.onboarding import (
    WORKING_MOMENT,
    company_options,
    error_view,
    refused_view,
)
from bot.use_case_process import urgent

logger = logging.getLogger(__name__)

# Slack waits 3 s for options; an answer that is not ready by then is an empty list. A second is
# left for the answer's way back on a busy machine.
SUGGESTION_TIMEOUT_SECONDS = 2.0
# A modal opened from a button shows the step's screen at once when the click was acked within
# OPEN_AT_ONCE_SECONDS of its arrival and the step answers within OPEN_ANSWER_SECONDS of it;
# else a working view first. A trigger lives 3 s from the click: under 200 clicks at once the
# ack alone took a second and more of them, and steps started before the views.open competed
# with it (108 triggers expired).
OPEN_AT_ONCE_SECONDS = 0.3
OPEN_ANSWER_SECONDS = 0.8

ViewBuilder = Callable[[Outcome], View | dict[str, Any]]


async def submit_step(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    *,
    signer: MetadataSigner,
    view_of: ViewBuilder,
    validate: Callable[[Form, str], dict[str, str]] | None,
    step: Callable[[StepRef, Actor, Form], Outcome],
    working_kind: str,
    quick: bool,
) -> None:
    view = body["view"]
    metadata = signer.verify(view.get("private_metadata"))
    if metadata is None:
        logger.warning("refused a submission with tampered private_metadata")
        await ack(response_action="update", view=refused_view(DEFAULT_LANGUAGE))
        return
    form = read_form(view)
    errors = validate(form, metadata.language) if validate else {}
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    actor = actor_from(body)
    outcome = await answer_submission(
        ack,
        client,
        view_of,
        language=metadata.language,
        use_case=lambda: run_use_case(metadata.language, step, metadata.ref, actor, form),
        working_kind=working_kind,
        quick=quick,
    )
    await refresh_invite(client, outcome.invite)


async def suggest_companies(
    ack: AsyncAck,
    body: dict[str, Any],
    *,
    signer: MetadataSigner,
    suggest: Callable[[int, Actor, str], Sequence[Company]],
    timeout: float = SUGGESTION_TIMEOUT_SECONDS,
) -> None:
    metadata = signer.verify((body.get("view") or {}).get("private_metadata"))
    if metadata is None:
        await ack(options=[])
        return
    try:
        with urgent():  # the options are the ack
            companies = await asyncio.wait_for(
                run_blocking(
                    suggest, metadata.ref.onboarding_id, actor_from(body), body.get("value", "")
                ),
                timeout=timeout,
            )
    except Exception:
        logger.exception("company suggestions failed")
        companies = []
    await ack(options=company_options(metadata.language, companies))


async def press_modal_button(
    body: dict[str, Any],
    client: AsyncWebClient,
    *,
    signer: MetadataSigner,
    view_of: ViewBuilder,
    use_case: Callable[[StepRef, Actor], Outcome],
    working_kind: str | None,
    keep: Callable[[int, Actor, dict[str, Any]], Awaitable[None]] | None = None,
) -> None:
    """`working_kind` None: the step calls no Nmbrs, and its screen replaces the modal as soon
    as it is ready."""
    view = body["view"]
    metadata = signer.verify(view.get("private_metadata"))
    if metadata is None:
        logger.warning("refused a click with tampered private_metadata")
        await replace_view(client, refused_view(DEFAULT_LANGUAGE), view_id=view["id"])
        return
    # The hash makes a double click lose here: only one click gets to update the view.
    view_hash: str | None = view["hash"]
    if working_kind is not None:
        try:
            await client.views_update(
                view_id=view["id"], hash=view_hash, view=working(metadata.language, working_kind)
            )
        except SlackApiError as error:
            logger.info("not running the click: %s", error.response.get("error"))
            return
        view_hash = None
    actor = actor_from(body)
    if keep is not None:
        await keep(metadata.ref.onboarding_id, actor, view)
    outcome = await run_use_case(metadata.language, use_case, metadata.ref, actor)
    if view_hash is None:
        await replace_view(client, view_of(outcome), view_id=view["id"])
    else:
        try:
            await client.views_update(view_id=view["id"], hash=view_hash, view=view_of(outcome))
        except SlackApiError as error:
            # The other click of a double click answered first (the step ran once: the second
            # found it done).
            logger.info("not showing the click's screen: %s", error.response.get("error"))
            return
    await refresh_invite(client, outcome.invite)


async def push_screen(
    body: dict[str, Any],
    client: AsyncWebClient,
    *,
    signer: MetadataSigner,
    view_of: ViewBuilder,
    use_case: Callable[[int, Actor], Outcome],
) -> None:
    """Open the use case's screen on top of the modal the button is in."""
    metadata = signer.verify(body["view"].get("private_metadata"))
    if metadata is None:
        logger.warning("refused a click with tampered private_metadata")
        screen: View | dict[str, Any] = refused_view(DEFAULT_LANGUAGE)
    else:
        outcome = await run_use_case(
            metadata.language, use_case, metadata.ref.onboarding_id, actor_from(body)
        )
        screen = view_of(outcome)
    try:
        await client.views_push(trigger_id=body["trigger_id"], view=screen)
    except SlackApiError as error:
        logger.info("could not open the screen on top: %s", error.response.get("error"))


async def open_modal(
    client: AsyncWebClient,
    *,
    trigger_id: str,
    language: str,
    actor: Actor,
    onboarding_id: int | None,
    use_case: Callable[[int, Actor], Outcome],
    view_of: ViewBuilder,
    not_opened: Callable[[], Awaitable[None]],
) -> None:
    if onboarding_id is None:
        await _open(client, trigger_id, error_view(language, "not_found"), not_opened)
        return
    arrived = request_arrived.get()
    waited = time.monotonic() - arrived if arrived is not None else 0.0
    if waited > OPEN_AT_ONCE_SECONDS:
        # Busy: the trigger first (a step started now would compete with the views.open).
        opened = await _open(client, trigger_id, working(language, WORKING_MOMENT), not_opened)
        outcome = await run_use_case(language, use_case, onboarding_id, actor)
        if opened is not None:
            await replace_view(client, view_of(outcome), view_id=opened)
            await refresh_invite(client, outcome.invite)
        return
    answer = asyncio.ensure_future(run_use_case(language, use_case, onboarding_id, actor))
    done, _ = await asyncio.wait({answer}, timeout=max(0.0, OPEN_ANSWER_SECONDS - waited))
    if done:
        # The step's screen opens at once, with no working view before it.
        outcome = answer.result()
        if await _open(client, trigger_id, view_of(outcome), not_opened) is None:
            return  # not shown: a click on Start resumes where the step left it
    else:
        opened = await _open(client, trigger_id, working(language, WORKING_MOMENT), not_opened)
        outcome = await answer
        if opened is None:
            return
        await replace_view(client, view_of(outcome), view_id=opened)
    await refresh_invite(client, outcome.invite)


async def _open(
    client: AsyncWebClient,
    trigger_id: str,
    view: View | dict[str, Any],
    not_opened: Callable[[], Awaitable[None]],
) -> str | None:
    """views.open; the view's id, or None when Slack refused (`not_opened` told the person)."""
    try:
        opened = await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        logger.info("could not open the modal: %s", error.response.get("error"))
        await not_opened()
        return None
    return str(opened["view"]["id"])
