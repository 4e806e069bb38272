"""Consent requests (storage.models.ConsentRequest): issue one when the customer's browser starts
a consent, consume it once when the provider calls back, erase those of an ended onboarding.

`consume` is single use across processes: one `UPDATE ... WHERE used_at IS NULL AND
expires_at > now`, whose row count decides, so of two callbacks with the same state (a replay,
two tabs, two processes) exactly one gets the request. The caller commits it at once, before
calling the provider. What a request holds in plaintext is no secret: the state only as its
SHA-256, the PKCE verifier encrypted with the unit of work's cipher.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage.crypto import EncryptionKeyError, TokenCipher
from storage.models import ConsentRequest

# The purposes a consent request is issued for; the callback dispatches on it.
PURPOSE_ONBOARDING = "onboarding"
PURPOSE_RELINK = "relink"

# How long a started consent may take until the provider calls back.
CONSENT_LIFETIME = timedelta(minutes=10)


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ConsumedConsent:
    """A consumed request, with its verifier decrypted for the code exchange."""

    onboarding_id: int
    purpose: str
    step: int
    person_id: str
    workspace_id: str
    view_key: str
    code_verifier: str


class ConsentRequestRepository:
    def __init__(self, session: Session, cipher: TokenCipher | None):
        self._session = session
        self._cipher = cipher

    def _require_cipher(self) -> TokenCipher:
        if self._cipher is None:
            raise EncryptionKeyError("this unit of work was opened without a token cipher")
        return self._cipher

    def issue(
        self,
        *,
        state: str,
        onboarding_id: int,
        purpose: str,
        step: int,
        person_id: str,
        workspace_id: str,
        view_key: str,
        code_verifier: str,
        now: datetime,
    ) -> ConsentRequest:
        request = ConsentRequest(
            state_hash=state_hash(state),
            onboarding_id=onboarding_id,
            purpose=purpose,
            step=step,
            person_id=person_id,
            workspace_id=workspace_id,
            view_key=view_key,
            encrypted_verifier=self._require_cipher().encrypt(code_verifier),
            created_at=now,
            expires_at=now + CONSENT_LIFETIME,
        )
        self._session.add(request)
        self._session.flush()
        return request

    def consume(self, state: str, *, now: datetime) -> ConsumedConsent | None:
        """The request of `state`, marked used; None when there is none, it expired or it was
        used before (also by another process at the same moment)."""
        hashed = state_hash(state)
        result = self._session.execute(
            update(ConsentRequest)
            .where(col(ConsentRequest.state_hash) == hashed)
            .where(col(ConsentRequest.used_at).is_(None))
            .where(col(ConsentRequest.expires_at) > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = self._session.exec(
            select(ConsentRequest).where(col(ConsentRequest.state_hash) == hashed)
        ).one()
        return ConsumedConsent(
            onboarding_id=row.onboarding_id,
            purpose=row.purpose,
            step=row.step,
            person_id=row.person_id,
            workspace_id=row.workspace_id,
            view_key=row.view_key,
            code_verifier=self._require_cipher().decrypt(row.encrypted_verifier),
        )

    def for_onboarding(self, onboarding_id: int) -> list[ConsentRequest]:
        statement = select(ConsentRequest).where(col(ConsentRequest.onboarding_id) == onboarding_id)
        return list(self._session.exec(statement))

    def erase_for_onboarding(self, onboarding_id: int) -> int:
        """Erase every request of the onboarding (any purpose); how many there were."""
        result = self._session.execute(
            delete(ConsentRequest)
            .where(col(ConsentRequest.onboarding_id) == onboarding_id)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def erase_expired(self, now: datetime) -> int:
        """Erase requests past their expiry or used (the retention job)."""
        result = self._session.execute(
            delete(ConsentRequest)
            .where(
                (col(ConsentRequest.expires_at) <= now) | col(ConsentRequest.used_at).is_not(None)
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
