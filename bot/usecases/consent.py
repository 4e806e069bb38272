"""The customer's consent at the payroll provider (the Nmbrs REST API), in the browser.

1. A screen that asks for the consent (`bot.core.screens.ConsentScreen`) links to
   `{PUBLIC_URL}/nmbrs/start?t=<token>` (`start_url`): the token is the TokenCipher's Fernet
   encryption, timed by the injected clock, of what the screen was drawn for (purpose,
   onboarding, step counter, the viewer and their workspace, the window's key). It is good for
   START_TOKEN_TTL; nothing is stored until it is used.
2. `start(token)`: the purpose's handler checks that the onboarding is still at that step and the
   person still allowed, and names the provider; a consent request is stored (storage.consents:
   the state only as its hash, the PKCE verifier encrypted) and the browser is sent to the
   provider's authorization URL.
3. `callback(state, code=, error=)`: the request of `state` is consumed in a transaction of its
   own (single use: a forged, expired or replayed state changes nothing), then the purpose's
   handler calls the provider (outside any transaction) and applies the answer in one step.

The purposes (PURPOSE_ONBOARDING; PURPOSE_RELINK for a link's relink by consent) register a
`ConsentPurpose` with `ConsentFlow.register`; the flow dispatches on the stored purpose.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from bot.clock import Clock
from bot.core.model import Actor
from bot.core.payroll import ConsentProvider
from bot.core.screens import Outcome, RefusedScreen
from storage.consents import PURPOSE_ONBOARDING, PURPOSE_RELINK, ConsumedConsent
from storage.crypto import TokenCipher, UndecryptableToken
from storage.repository import SqlUnitOfWork

logger = logging.getLogger(__name__)

__all__ = [
    "PURPOSE_ONBOARDING",
    "PURPOSE_RELINK",
    "START_PATH",
    "START_TOKEN_TTL",
    "ConsentFlow",
    "ConsentPurpose",
    "ConsentTicket",
    "ConsumedConsent",
    "Finished",
    "PageAnswer",
    "Redirect",
]

START_PATH = "/nmbrs/start"
# How long the link on a consent screen stays good (seconds).
START_TOKEN_TTL = 30 * 60
# The provider's `state`: unguessable, sent once, stored only as its hash.
STATE_BYTES = 32

# What a browser page says (bot/i18n/*/customer.toml, [consent_page]).
PAGE_DONE = "done"
PAGE_INVALID = "invalid"
PAGE_STALE = "stale"
PAGE_REFUSED = "refused"
PAGE_UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ConsentTicket:
    """What a consent link was drawn for (the start token's content)."""

    purpose: str
    onboarding_id: int
    step: int
    user_id: str
    team_id: str
    view_key: str

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.team_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "p": self.purpose,
                "o": self.onboarding_id,
                "s": self.step,
                "u": self.user_id,
                "t": self.team_id,
                "v": self.view_key,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ConsentTicket:
        data = json.loads(text)
        return cls(
            purpose=str(data["p"]),
            onboarding_id=int(data["o"]),
            step=int(data["s"]),
            user_id=str(data["u"]),
            team_id=str(data["t"]),
            view_key=str(data["v"]),
        )


@dataclass(frozen=True)
class Redirect:
    """Send the browser to the provider."""

    url: str


@dataclass(frozen=True)
class PageAnswer:
    """A page for the browser: `page` one of PAGE_*, in `language` (None: Dutch and English),
    with `status` 200 or 400."""

    page: str
    language: str | None
    status: int = 400


@dataclass(frozen=True)
class Finished:
    """What a callback led to: the page for the browser and, when a step ran, its Outcome and
    the window (`view_key`) that shows it."""

    page: PageAnswer
    outcome: Outcome | None = None
    view_key: str = ""
    # Whose window it is (the relink's is a link modal).
    purpose: str = PURPOSE_ONBOARDING


def page_for(outcome: Outcome, *, started: bool = True) -> PageAnswer:
    """The browser's page: after a step, back to Slack whatever the window now shows (it says
    what happened); a refusal, an unknown onboarding, or (before the consent started) a screen
    that moved on is a 400."""
    if isinstance(outcome.screen, RefusedScreen):
        return PageAnswer(PAGE_REFUSED, outcome.language)
    if outcome.ref is None or not started:
        return PageAnswer(PAGE_STALE, outcome.language)
    return PageAnswer(PAGE_DONE, outcome.language, status=200)


class ConsentPurpose(Protocol):
    """What a purpose does around a consent (the onboarding's: OnboardingService)."""

    def begin(self, ticket: ConsentTicket) -> ConsentProvider | PageAnswer:
        """The provider to consent at, when the ticket's onboarding is still at its step and the
        person still allowed; else the page that says why not."""
        ...

    def finish(self, consumed: ConsumedConsent, *, code: str | None, error: str | None) -> Finished:
        """Apply the provider's answer: `code` to exchange, or `error` (access_denied)."""
        ...


class ConsentFlow:
    def __init__(
        self,
        *,
        unit_of_work: Callable[[], SqlUnitOfWork],
        cipher: TokenCipher,
        clock: Clock,
        public_url: str,
        redirect_uri: str,
    ):
        self._unit_of_work = unit_of_work
        self._cipher = cipher
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self.redirect_uri = redirect_uri
        self._purposes: dict[str, ConsentPurpose] = {}

    def register(self, purpose: str, handler: ConsentPurpose) -> None:
        self._purposes[purpose] = handler

    @staticmethod
    def new_view_key() -> str:
        return "consent-" + secrets.token_hex(12)

    def start_url(self, ticket: ConsentTicket) -> str:
        token = self._cipher.encrypt_at(ticket.to_json(), int(self._clock.now().timestamp()))
        return f"{self._public_url}{START_PATH}?" + urlencode({"t": token.decode("ascii")})

    def read_ticket(self, token: str) -> ConsentTicket | None:
        try:
            text = self._cipher.decrypt_within(
                token.encode("ascii"),
                ttl=START_TOKEN_TTL,
                now=int(self._clock.now().timestamp()),
            )
            return ConsentTicket.from_json(text)
        except (UndecryptableToken, UnicodeEncodeError, ValueError, KeyError, TypeError):
            return None

    def start(self, token: str) -> Redirect | PageAnswer:
        ticket = self.read_ticket(token)
        handler = self._purposes.get(ticket.purpose) if ticket is not None else None
        if ticket is None or handler is None:
            logger.info("consent start refused: no valid start token")
            return PageAnswer(PAGE_INVALID, None)
        provider = handler.begin(ticket)
        if isinstance(provider, PageAnswer):
            return provider
        state = secrets.token_urlsafe(STATE_BYTES)
        authorization = provider.authorization_start(redirect_uri=self.redirect_uri, state=state)
        with self._unit_of_work() as uow:
            uow.consents.issue(
                state=state,
                onboarding_id=ticket.onboarding_id,
                purpose=ticket.purpose,
                step=ticket.step,
                person_id=ticket.user_id,
                workspace_id=ticket.team_id,
                view_key=ticket.view_key,
                code_verifier=authorization.code_verifier,
                now=self._clock.now(),
            )
            uow.commit()
        logger.info("consent started for %s %s", ticket.purpose, ticket.onboarding_id)
        return Redirect(authorization.url)

    def callback(self, state: str, *, code: str | None, error: str | None) -> Finished:
        """Consume the request of `state` (its own transaction, committed before anything
        else), then let its purpose finish."""
        if not state or (not code and not error):
            return Finished(PageAnswer(PAGE_INVALID, None))
        with self._unit_of_work() as uow:
            consumed = uow.consents.consume(state, now=self._clock.now())
            uow.commit()
        if consumed is None:
            logger.info("consent callback refused: unknown, expired or used state")
            return Finished(PageAnswer(PAGE_INVALID, None))
        handler = self._purposes.get(consumed.purpose)
        if handler is None:
            logger.warning(
                "consent callback for purpose %r, which nobody handles", consumed.purpose
            )
            return Finished(PageAnswer(PAGE_INVALID, None))
        return handler.finish(consumed, code=code or None, error=error or None)
