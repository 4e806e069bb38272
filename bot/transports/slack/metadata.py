"""The private_metadata of the onboarding and link modals: which onboarding, at which step,
signed.

A view submission carries no channel; the onboarding id in private_metadata leads to it. The id
is signed with a key derived from the Slack signing secret, so an edited id is refused before
any use case runs (and the use case still checks channel membership). The step counter is the
idempotency key of the view (see bot.usecases.steps). The language only picks the text of screens
drawn before the onboarding is loaded. Each kind of modal signs with a key of its own
(`purpose`), so a link modal's metadata is never accepted by the onboarding's listeners, nor the
other way round.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from bot.core.model import StepRef
from bot.i18n import resolve_language

MAC_LENGTH = 16
ONBOARDING_MODALS = b"onboarding private_metadata"
LINK_MODALS = b"link private_metadata"


@dataclass(frozen=True)
class ViewMetadata:
    ref: StepRef
    language: str


class MetadataSigner:
    def __init__(self, signing_secret: str, *, purpose: bytes = ONBOARDING_MODALS):
        self._key = hmac.new(signing_secret.encode("utf-8"), purpose, hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode("utf-8"), hashlib.sha256).hexdigest()[:MAC_LENGTH]

    def sign(self, ref: StepRef, language: str) -> str:
        body = f"{ref.onboarding_id}.{ref.step}.{language}"
        return f"{body}.{self._mac(body)}"

    def verify(self, private_metadata: str | None) -> ViewMetadata | None:
        """The metadata, or None when it is missing, malformed or tampered with."""
        parts = (private_metadata or "").split(".")
        if len(parts) != 4:
            return None
        onboarding_id, step, language, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{onboarding_id}.{step}.{language}")):
            return None
        if not (onboarding_id.isdigit() and step.isdigit()):
            return None
        return ViewMetadata(StepRef(int(onboarding_id), int(step)), resolve_language(language))
