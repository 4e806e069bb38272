"""Keeping the grants of consent links (the Nmbrs REST API) alive: access tokens live an hour,
refresh tokens are single use and rotate, and a refresh token unused for 30 days dies.

One refresh of a link at a time, across processes: the refresh runs in one transaction that
first takes the link's row lock (`storage.links.lock_link`), then reads the grant (another
process may have refreshed it meanwhile: its fresh grant is used, and no refresh is made while
it is still valid), calls the provider and stores the rotated grant before it commits. The
provider call inside the transaction is deliberate: the rotated refresh token is stored before
anything else can use the link, so a used refresh token is never sent again.

When the provider no longer honours a grant (WrongCredentials: `invalid_grant`), the link
becomes needs_relink with reason wrong_credentials, reported once (`mark_needs_relink`), and is
never refreshed again until the customer consents again. Links of a provider without consent
(SOAP) hand out their stored token as it is.

Nothing secret is logged: only link ids and the provider's error codes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock, SystemClock
from bot.core.link_flow import REASON_WRONG_CREDENTIALS
from bot.core.payroll import (
    Connection,
    ConsentProvider,
    PayrollProvider,
    ProviderError,
    WrongCredentials,
)
from bot.ports import LinkNotices
from bot.usecases.link_problems import Problem, mark_needs_relink
from bot.usecases.providers import Providers
from storage.links import ACTIVE, NEEDS_RELINK, UNLINKED, LinkNotActive, lock_link
from storage.models import PayrollLink
from storage.repository import NotFound, UnitOfWorkFactory

logger = logging.getLogger(__name__)

SYSTEM = "system"

# An access token that expires within this is refreshed before it is handed out.
REFRESH_MARGIN = timedelta(minutes=5)
# The daily renewal refreshes a grant last renewed longer ago than this (its refresh token
# lives 30 days: a few missed days, Nmbrs down or the job stopped, still leave a margin).
RENEW_AFTER = timedelta(days=3)

AUDIT_GRANT_RENEWED = "link_grant_renewed"


class GrantRefused(LinkNotActive):
    """The provider no longer honours the link's grant: the link needs relinking (consent).
    `reported`: whether this refusal moved the link and so reported it."""

    def __init__(self, link_id: int, *, reported: bool):
        self.reported = reported
        super().__init__(link_id, NEEDS_RELINK)


@dataclass(frozen=True)
class LinkConnection:
    """A link's provider and connection, and the ciphertext its secret had (the caller's
    check of "the link has not changed since")."""

    provider: PayrollProvider
    connection: Connection = field(repr=False)
    checked_token: bytes = field(repr=False)
    # Whether this read refreshed the grant.
    refreshed: bool = False

    @property
    def token(self) -> str:
        """What a job sends: the access token of a grant, else the stored token."""
        if isinstance(self.provider, ConsentProvider):
            return self.provider.access_token(self.connection)
        return self.connection.secret


class GrantKeeper:
    """Blocking (database, provider). `access_token(link_id)` is the token source of
    `storage.links.LinkReader`."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        providers: Providers,
        notices: LinkNotices,
        clock: Clock | None = None,
    ):
        self._unit_of_work = unit_of_work
        self._providers = providers
        self._notices = notices
        self._clock = clock or SystemClock()

    def access_token(self, link_id: int) -> str:
        """A valid token for an active link (a grant's access token refreshed when it expires
        within REFRESH_MARGIN). LinkNotActive (GrantRefused on invalid_grant), NotFound,
        ProviderError when the provider could not refresh."""
        return self.connection(link_id).token

    def connection(self, link_id: int, *, needing_relink_too: bool = False) -> LinkConnection:
        """The link's connection with a valid access token. `needing_relink_too`: a link that
        needs relinking is read as well (to verify it), unless its grant was refused."""
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            self._require_usable(link, needing_relink_too=needing_relink_too)
            provider = self._providers.get(link.provider)
            current = _link_connection(uow.links.token(link), link, provider)
        if not self._expiring(current):
            return current
        return self._refresh(link_id, needing_relink_too=needing_relink_too)

    def renew(self, link_id: int, *, renewed_before: datetime) -> LinkConnection:
        """Refresh the grant unless it was renewed at or after `renewed_before` (by another
        process meanwhile): the daily renewal that keeps it inside its 30 days."""
        return self._refresh(link_id, renewed_before=renewed_before)

    # -- the one refresh ----------------------------------------------------------------------

    def _refresh(
        self,
        link_id: int,
        *,
        needing_relink_too: bool = False,
        renewed_before: datetime | None = None,
    ) -> LinkConnection:
        checked: bytes | None = None
        try:
            with self._unit_of_work() as uow:
                if not lock_link(uow, link_id):
                    raise NotFound(f"link {link_id} does not exist")
                # Read after the lock: what the last refresh committed.
                link = uow.links.require(link_id)
                self._require_usable(link, needing_relink_too=needing_relink_too)
                provider = self._providers.get(link.provider)
                current = _link_connection(uow.links.token(link), link, provider)
                checked = current.checked_token
                if not isinstance(provider, ConsentProvider):
                    return current
                if renewed_before is None:
                    if not self._expiring(current):
                        return current  # refreshed by another process meanwhile
                elif _renewed_at(link) >= renewed_before:
                    return current
                renewed = provider.refresh(current.connection)
                now = self._clock.now()
                uow.links.store_renewed_secret(link, renewed.secret, at=now)
                uow.audit.record(
                    AUDIT_GRANT_RENEWED,
                    actor=SYSTEM,
                    onboarding_id=link.onboarding_id,
                    link_id=link_id,
                    at=now,
                )
                assert link.encrypted_secret is not None
                stored = LinkConnection(provider, renewed, link.encrypted_secret, refreshed=True)
                uow.commit()
        except WrongCredentials:
            assert checked is not None
            logger.info("Nmbrs refused the grant of link %s: it needs relinking", link_id)
            raise GrantRefused(link_id, reported=self._refused(link_id, checked)) from None
        logger.info("renewed the grant of link %s", link_id)
        return stored

    def _refused(self, link_id: int, checked_token: bytes) -> bool:
        """Mark the link needs_relink (wrong_credentials), reported once."""
        now = self._clock.now()
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            if link.revoked_at is not None:
                return False
            reported = mark_needs_relink(
                uow,
                self._notices,
                link,
                Problem(REASON_WRONG_CREDENTIALS),
                checked_token=checked_token,
                actor=SYSTEM,
                now=now,
            )
            uow.commit()
            return reported

    def _expiring(self, current: LinkConnection) -> bool:
        provider = current.provider
        if not isinstance(provider, ConsentProvider):
            return False
        expires_at = provider.access_expires_at(current.connection)
        return expires_at - self._clock.now() <= REFRESH_MARGIN

    def _require_usable(self, link: PayrollLink, *, needing_relink_too: bool) -> None:
        assert link.id is not None
        consent = isinstance(self._providers.get(link.provider), ConsentProvider)
        if link.revoked_at is not None or link.encrypted_secret is None:
            raise LinkNotActive(link.id, UNLINKED)
        if link.status == ACTIVE:
            return
        if not needing_relink_too or (consent and grant_refused(link)):
            raise LinkNotActive(link.id, link.status)


def revoke_grant(
    unit_of_work: UnitOfWorkFactory, providers: Providers, link_id: int
) -> bool | None:
    """Revoke a consent link's grant at the provider, before the unlink erases it here: True
    when revoked, False when the provider could not be told (the customer can still revoke it
    there), None when there is nothing to revoke (a SOAP link, or unlinked already). Holds the
    link's lock meanwhile, so no refresh rotates the grant under the revocation; stores nothing."""
    with unit_of_work() as uow:
        if not lock_link(uow, link_id):
            return None
        link = uow.links.require(link_id)
        if link.revoked_at is not None or link.encrypted_secret is None:
            return None
        provider = providers.get(link.provider)
        if not isinstance(provider, ConsentProvider):
            return None
        current = _link_connection(uow.links.token(link), link, provider)
        try:
            provider.revoke(current.connection)
        except ProviderError as error:
            logger.info(
                "revoking the grant of link %s at the provider failed: %s", link_id, error.code
            )
            return False
    logger.info("revoked the grant of link %s at the provider", link_id)
    return True


def grant_refused(link: PayrollLink) -> bool:
    """Whether the link needs relinking because its credentials (grant) were refused: a grant
    is never refreshed again then, until the customer consents again."""
    return link.status == NEEDS_RELINK and (link.problem or {}).get("reason") == (
        REASON_WRONG_CREDENTIALS
    )


def _renewed_at(link: PayrollLink) -> datetime:
    return link.grant_renewed_at or link.created_at


def _link_connection(
    secret: str | None, link: PayrollLink, provider: PayrollProvider
) -> LinkConnection:
    assert secret is not None and link.encrypted_secret is not None
    connection = Connection(
        account=link.account_label, secret=secret, environment=link.environment["domain"]
    )
    return LinkConnection(provider, connection, link.encrypted_secret)
