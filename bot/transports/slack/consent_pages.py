"""The browser's side of the customer's consent at Nmbrs (bot.usecases.consent), served beside the
Slack routes:

- `GET /nmbrs/start?t=<token>`: a consent screen's link. 302 to Nmbrs' authorization page, or a
  400 page when the link is bad, expired, of a step that is over, or not the person's.
- `GET /nmbrs/callback?code=&state=&scope=` (or `?error=access_denied&state=`): Nmbrs sends the
  browser back. The consent is applied and the browser gets a small page that sends them back
  to Slack; then (once the browser has it: the page waits only for Nmbrs) the customer's
  open modal is redrawn by its key (views.update with the external_id the consent screen set;
  best effort: a closed modal is `not_found`) and the invite message as after any step. A
  forged, expired or replayed state is a 400 page and changes nothing.

Pages carry no data: only a catalogue text in the client's language (Dutch and English when
it is not known), with `Cache-Control: no-store` and `Referrer-Policy: no-referrer`. The query
strings hold secrets (code, state, token): nothing here logs them, and bot.logs strips them from
uvicorn's access log.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.i18n import LANGUAGES, catalogue
from bot.settings import NMBRS_CALLBACK_PATH
from bot.transports.slack.answers import run_blocking, view_for
from bot.transports.slack.invites import refresh_invite
from bot.transports.slack.metadata import MetadataSigner
from bot.transports.slack.views.links import link_view
from bot.usecases.consent import (
    PURPOSE_RELINK,
    START_PATH,
    ConsentFlow,
    Finished,
    PageAnswer,
    Redirect,
)

logger = logging.getLogger(__name__)

PRIVATE_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}


def consent_page(answer: PageAnswer) -> Response:
    """The page of `answer`: its text in the client's language, or in every language."""
    languages = (answer.language,) if answer.language else LANGUAGES
    texts = [catalogue(language) for language in languages]
    title = html.escape(" / ".join(t.text("customer.consent_page.title") for t in texts))
    paragraphs = "".join(
        f'<p lang="{t.language}">{html.escape(t.text(f"customer.consent_page.{answer.page}"))}</p>'
        for t in texts
    )
    body = (
        f'<!doctype html><html lang="{texts[0].language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head>"
        '<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">'
        f"<h1>{title}</h1>{paragraphs}</body></html>"
    )
    return HTMLResponse(body, status_code=answer.status, headers=PRIVATE_HEADERS)


async def redraw_modal(
    client: AsyncWebClient,
    finished: Finished,
    signer: MetadataSigner,
    link_signer: MetadataSigner | None = None,
) -> bool:
    """Show the step's screen in the modal that asked for the consent (a relink's: the link
    modal, with the link modals' signer); False when it is gone."""
    if finished.outcome is None or not finished.view_key:
        return False
    outcome = finished.outcome
    if finished.purpose == PURPOSE_RELINK and link_signer is not None:
        metadata = link_signer.sign(outcome.ref, outcome.language) if outcome.ref else None
        view: Any = link_view(outcome, private_metadata=metadata)
    else:
        view = view_for(outcome, signer)
    try:
        await client.views_update(external_id=finished.view_key, view=view)
        return True
    except SlackApiError as error:
        reason = error.response.get("error")
        if reason == "not_found":
            logger.info("the consent's modal is closed; the state is saved for a resume")
        else:
            logger.warning("views.update after the consent failed: %s", reason)
    except (TimeoutError, aiohttp.ClientError) as error:
        logger.warning("views.update after the consent got no answer (%s)", type(error).__name__)
    return False


def consent_routes(
    consents: ConsentFlow,
    *,
    client: AsyncWebClient,
    signer: MetadataSigner,
    link_signer: MetadataSigner | None = None,
) -> list[Route]:
    async def show_in_slack(finished: Finished) -> None:
        """After the page's answer: the step's screen in the modal, and the invite redrawn."""
        try:
            await redraw_modal(client, finished, signer, link_signer)
            if finished.outcome is not None:
                await refresh_invite(client, finished.outcome.invite)
        except Exception:
            # The page said how it went; Continue on the invite shows the step again.
            logger.exception("could not show the consent's outcome in Slack")

    async def start(request: Request) -> Response:
        answer = await run_blocking(consents.start, request.query_params.get("t", ""))
        if isinstance(answer, Redirect):
            return RedirectResponse(answer.url, status_code=302, headers=PRIVATE_HEADERS)
        return consent_page(answer)

    async def callback(request: Request) -> Response:
        query = request.query_params
        finished = await run_blocking(
            consents.callback,
            query.get("state", ""),
            code=query.get("code"),
            error=query.get("error"),
        )
        page = consent_page(finished.page)
        # The modal and the invite are redrawn once the browser has its answer.
        page.background = BackgroundTask(show_in_slack, finished)
        return page

    return [
        Route(START_PATH, start, methods=["GET"]),
        Route(NMBRS_CALLBACK_PATH, callback, methods=["GET"]),
    ]
