"""How a Slack request runs a use case and how its answer reaches the person, shared by the
listeners.

- `actor_from(body)`: who acts, with the team of the user (an external Slack Connect user has
  its own) and, for clicks on a channel message, the channel.
- `run_blocking(...)`: a blocking call (database, Nmbrs) in the use-case thread pool, which is
  our own so that slow Nmbrs checks never starve other work of the event loop's default pool.
- `run_use_case(...)`: a use case through `run_blocking`; any failure becomes an error screen, so
  the user always sees what happened.
- `answer_submission(...)`: answers a view submission. A quick step (no Nmbrs call) runs before
  the ack as one short transaction, its channel membership from the cache only
  (bot.transports.slack.membership.from_cache_only: no Web API call before the ack), and the
  next screen comes in the ack itself. In `serve` it runs in the use-case process: run in the
  served process instead (bot.use_case_process.urgent), 200 of them at once held its GIL
  and delayed every ack (load benchmark, 2 workers: 82 acks over 3 s instead of none). A
  slow step (Nmbrs calls), or a quick one the cache cannot vouch for or that is not done
  within FAST_ANSWER_SECONDS, acks at once with a "working" view, which is replaced when the
  step is done.
- `replace_view(...)`: the follow-up `views.update`. It targets the working view by its
  `external_id`: Slack applies an ack's `response_action` some time after our response, and a
  `views.update` that overtook it would be overwritten by the working view. Until the working
  view exists, Slack answers not_found and we try again for about three seconds, each pause
  twice the one before: a working view the person closed, or replaced by submitting again,
  never comes back (15 tries 0.2 s apart made the credentials benchmark, which submits each
  view again at once, send 1,012 views.update for 200 submissions, 870 of them not_found).
  The view's JSON is drawn once for all the tries.
- `keep_draft(...)`: keeps what a closed (or re-checked) form held, for the next Start.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import Actor, InvalidInput
from bot.core.screens import ErrorScreen, Outcome
from bot.ports import MembershipUnknown
from bot.transports.slack.forms import draft_of, read_form
from bot.transports.slack.membership import NotCached, from_cache_only
from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.views.onboarding import render, working_view
from bot.usecases.onboarding import OnboardingService

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A quick step's screen comes in the ack when it is ready within this; else a working view.
# The ack of a step not ready takes this and a little more: under 200 onboardings at once,
# with a second here the terms and preparation acks made the p99 1.1-1.3 s (target < 1 s).
# A step by itself is ready in a tenth of that.
FAST_ANSWER_SECONDS = 0.5
# Use cases mostly wait (on Nmbrs or the database), so many may run at once.
USE_CASE_WORKERS = 32
_use_case_pool = ThreadPoolExecutor(max_workers=USE_CASE_WORKERS, thread_name_prefix="use-case")
# How long a follow-up update waits for Slack to show the working view it replaces.
REPLACE_ATTEMPTS = 6
REPLACE_FIRST_PAUSE_SECONDS = 0.1  # then 0.2, 0.4, 0.8, 1.6: 3.1 s in all
# How often a views.update Slack did not answer (timeout, dropped connection) is sent again.
UNANSWERED_RETRIES = 1


def actor_from(body: dict[str, Any], *, from_channel: bool = False) -> Actor:
    """The acting user with their own team: `user.team_id`, which for an external Slack Connect
    user is their workspace. (`view.app_installed_team_id` names ours; bolt authorizes with it.)"""
    user = body.get("user") or {}
    team_id = user.get("team_id") or (body.get("team") or {}).get("id")
    channel_id = (body.get("channel") or {}).get("id") if from_channel else None
    return Actor(user_id=user.get("id", ""), team_id=team_id, channel_id=channel_id or None)


def is_retry(request_headers: dict[str, Any]) -> bool:
    """Slack's re-delivery of a request it thinks went unanswered."""
    return bool(request_headers.get("x-slack-retry-num"))


async def run_blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """In the use-case pool, with this task's context (so its log lines keep the request id)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(function, *args, **kwargs)
    return await loop.run_in_executor(_use_case_pool, contextvars.copy_context().run, call)


async def run_use_case(
    language: str, use_case: Callable[..., Outcome], *args: Any, **kwargs: Any
) -> Outcome:
    try:
        return await run_blocking(use_case, *args, **kwargs)
    except NotCached:
        raise  # for the caller: the step runs after the ack instead
    except InvalidInput as error:
        logger.info("refused input: %s", error)
        return Outcome(screen=ErrorScreen("invalid_choice"), language=language)
    except MembershipUnknown:
        logger.warning("channel membership could not be read")
        return Outcome(screen=ErrorScreen("try_again"), language=language)
    except Exception:
        logger.exception("use case %s failed", getattr(use_case, "__name__", use_case))
        return Outcome(screen=ErrorScreen("try_again"), language=language)


def view_for(outcome: Outcome, signer: MetadataSigner) -> View:
    metadata = signer.sign(outcome.ref, outcome.language) if outcome.ref else None
    return render(outcome, private_metadata=metadata)


def new_external_id() -> str:
    return "onboarding-" + secrets.token_hex(12)


def working(language: str, kind: str, external_id: str | None = None) -> View:
    view = working_view(language, kind)
    view.external_id = external_id
    return view


async def replace_view(
    client: AsyncWebClient,
    view: View | dict[str, Any],
    *,
    view_id: str | None = None,
    external_id: str | None = None,
) -> bool:
    """Show `view` in place of an open one; False when it is gone (closed by the person)."""
    drawn = view.to_dict() if isinstance(view, View) else view
    unanswered = 0
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            await client.views_update(view=drawn, view_id=view_id, external_id=external_id)
            return True
        except (TimeoutError, aiohttp.ClientError) as error:
            # Slack may have shown it anyway; showing the same view again does no harm.
            unanswered += 1
            logger.warning("views.update got no answer (%s)", type(error).__name__)
            if unanswered > UNANSWERED_RETRIES:
                raise
        except SlackApiError as error:
            if error.response.get("error") != "not_found":
                logger.warning("views.update failed: %s", error.response.get("error"))
                return False
            if view_id is not None or attempt == REPLACE_ATTEMPTS - 1:
                logger.info("the view to update is closed; the state is saved for a resume")
                return False
            await asyncio.sleep(REPLACE_FIRST_PAUSE_SECONDS * 2**attempt)
    return False


async def answer_submission(
    ack: AsyncAck,
    client: AsyncWebClient,
    view_of: Callable[[Outcome], View | dict[str, Any]],
    *,
    language: str,
    use_case: Callable[[], Awaitable[Outcome]],
    working_kind: str,
    quick: bool,
) -> Outcome:
    """Answer a view submission with the next screen (see the module docstring)."""
    before_ack: asyncio.Task[Outcome] | None = None
    if quick:
        with from_cache_only():
            # The task takes this context along, and its thread the task's.
            before_ack = asyncio.ensure_future(use_case())
        done, _ = await asyncio.wait({before_ack}, timeout=FAST_ANSWER_SECONDS)
        if done and before_ack.exception() is None:
            outcome = before_ack.result()
            await ack(response_action="update", view=view_of(outcome))
            return outcome
    external_id = new_external_id()
    await ack(response_action="update", view=working(language, working_kind, external_id))
    outcome = await _after_ack(before_ack, use_case)
    await replace_view(client, view_of(outcome), external_id=external_id)
    return outcome


async def _after_ack(
    before_ack: asyncio.Task[Outcome] | None, use_case: Callable[[], Awaitable[Outcome]]
) -> Outcome:
    """The step's outcome once the ack is out: the quick run's, unless it needed Slack."""
    if before_ack is not None:
        try:
            return await before_ack
        except NotCached:
            pass
    return await use_case()


async def keep_draft(
    service: OnboardingService, onboarding_id: int, actor: Actor, view: dict[str, Any]
) -> None:
    """Keep what a form holds (never the token) for the next Start; best effort."""
    draft = draft_of(view.get("callback_id", ""), read_form(view))
    if not draft:
        return
    try:
        await run_blocking(service.save_draft, onboarding_id, actor, draft)
    except Exception:
        logger.exception("could not keep the draft of onboarding %s", onboarding_id)
