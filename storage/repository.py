"""Repositories and the unit of work the bot's use cases call.

One use case = one unit of work = one database transaction::

    with uow_factory() as uow:                       # SqlUnitOfWork(engine, cipher)
        onboarding = uow.onboardings.require(onboarding_id, expected_version=seen_version)
        onboarding.state = "terms_accepted"
        uow.audit.record("terms_accepted", actor=user_id, onboarding_id=onboarding.id)
        uow.commit()

Leaving the block without `commit()`, or with an exception, rolls everything back. Objects stay
readable after the block (no expiry on commit), so views can be built from them.

Optimistic concurrency: `Onboarding.version` is SQLAlchemy's version counter. Every UPDATE of an
onboarding matches on the version it was read with and bumps it; if another transaction got there
first, the write fails and `StaleUpdate` is raised (from `commit()`, `flush()` or when the block
ends). `require(..., expected_version=v)` raises `StaleUpdate` at once when a version seen
earlier (e.g. in a view's private_metadata) is no longer current. Never assign `version` yourself.

Tokens: repositories encrypt and decrypt with the unit of work's `TokenCipher`; plaintext never
reaches a column. Without a cipher (commands that never touch tokens, like `links list`), the
token methods raise `storage.crypto.EncryptionKeyError`.

Repositories (attributes of the unit of work):

- `uow.clients`: `add(client)`, `get(id)`, `for_channel(channel_id)`.
- `uow.onboardings`: `add(onboarding)` (OpenOnboardingExists when its channel has an open
  one), `get(id)`, `require(id, expected_version=None)`,
  `open_for_channel(channel_id)`, `list_open()`, `list_recent(limit)`, `due_for_expiry(now)`,
  `set_pending_token(onboarding, token)`, `pending_token(onboarding)`,
  `erase_pending_token(onboarding)`. "Open" means a state outside `CLOSED_STATES`.
- `uow.audit`: `record(kind, actor=..., onboarding_id=..., link_id=..., detail=...)`,
  `for_onboarding(id)`, `for_link(id)`, `forget_usernames(onboarding_id)` (retention). `detail`
  must not hold secrets; keys that name one (token, password, secret) are refused.
- `uow.terms`: `record(onboarding_id, terms_version=..., person_id=..., workspace_id=...)`,
  `for_onboarding(id)`.
- `uow.links`: `create(onboarding=..., username=..., token=..., domain=..., companies=...)`,
  `get(id)`, `require(id)`, `for_onboarding(id)`, `companies(link_id)`, `token(link)`,
  `list_summaries()`, `unlink(link, actor=...)`.
- `uow.consents`: consent requests (storage.consents): `issue(...)`, `consume(state, now=)`,
  `erase_for_onboarding(id)`.
- `uow.rotate_tokens()`: re-encrypt every stored token (links and pending) with the newest key.

Lookups that must find something (`require`) raise `NotFound`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import Engine, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from storage.consents import ConsentRequestRepository
from storage.crypto import EncryptionKeyError, TokenCipher
from storage.models import (
    CLOSED_STATES,
    OPEN_PER_CHANNEL_INDEX,
    AuditEvent,
    Client,
    InviteMessage,
    LinkedCompany,
    Onboarding,
    PayrollLink,
    TermsAcceptance,
    utcnow,
)

# Audit detail keys that would name a secret; refused so a token cannot slip into the trail.
SECRET_DETAIL_KEYS = frozenset({"token", "api_token", "password", "secret", "pending_token"})

AUDIT_LINK_UNLINKED = "link_unlinked"


def _names_user(detail_key: str) -> bool:
    """An audit detail that holds a username at the provider (personal data)."""
    key = detail_key.lower()
    return key == "username" or key.endswith("_username")


class StaleUpdate(Exception):
    """Another transaction changed the onboarding since it was read; nothing was written."""


class NotFound(LookupError):
    pass


class OpenOnboardingExists(Exception):
    """The channel already has an open onboarding (the database allows one); nothing was
    written. Another process may have started it a moment ago."""


class CompanyLike(Protocol):
    """What a link needs of a company; the use cases' `CompanyRow` fits."""

    @property
    def id(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def guid(self) -> str | None: ...


@dataclass(frozen=True)
class LinkSummary:
    """A link with its client and linked companies, for listings (never the token)."""

    link: PayrollLink
    client: Client
    companies: list[LinkedCompany]


class _Repository:
    def __init__(self, session: Session, cipher: TokenCipher | None):
        self._session = session
        self._cipher = cipher

    def _require_cipher(self) -> TokenCipher:
        if self._cipher is None:
            raise EncryptionKeyError(
                "ENCRYPTION_KEYS is not set: tokens can be neither stored nor read"
            )
        return self._cipher


class ClientRepository(_Repository):
    def add(self, client: Client) -> Client:
        """Insert and assign `client.id`."""
        self._session.add(client)
        self._session.flush()
        return client

    def get(self, client_id: int) -> Client | None:
        return self._session.get(Client, client_id)

    def for_channel(self, channel_id: str) -> list[Client]:
        statement = select(Client).where(Client.conversation_id == channel_id)
        return list(self._session.exec(statement.order_by(col(Client.id))))


class OnboardingRepository(_Repository):
    def add(self, onboarding: Onboarding) -> Onboarding:
        """Insert and assign `onboarding.id`; its channel is the client's unless given."""
        if onboarding.conversation_id is None:
            client = self._session.get(Client, onboarding.client_id)
            onboarding.conversation_id = client.conversation_id if client else None
        self._session.add(onboarding)
        try:
            self._session.flush()
        except IntegrityError as error:
            if _violates(error, OPEN_PER_CHANNEL_INDEX, "onboarding.conversation_id"):
                raise OpenOnboardingExists(onboarding.conversation_id) from error
            raise
        return onboarding

    def get(self, onboarding_id: int) -> Onboarding | None:
        return self._session.get(Onboarding, onboarding_id)

    def version_and_client(self, onboarding_id: int) -> tuple[int, int] | None:
        """(version, client_id) without reading step_data: what a cache keyed on the version
        needs to know whether it is still current."""
        statement = select(Onboarding.version, Onboarding.client_id).where(
            Onboarding.id == onboarding_id
        )
        row = self._session.exec(statement).first()
        return (row[0], row[1]) if row is not None else None

    def require(self, onboarding_id: int, *, expected_version: int | None = None) -> Onboarding:
        """The onboarding, or NotFound; StaleUpdate when it moved past `expected_version`."""
        onboarding = self.get(onboarding_id)
        if onboarding is None:
            raise NotFound(f"onboarding {onboarding_id} does not exist")
        if expected_version is not None and onboarding.version != expected_version:
            raise StaleUpdate(
                f"onboarding {onboarding_id} is at version {onboarding.version}, "
                f"not {expected_version}"
            )
        return onboarding

    def open_for_channel(self, channel_id: str) -> Onboarding | None:
        """The newest open onboarding of a client whose shared channel is `channel_id`."""
        statement = (
            select(Onboarding)
            .join(Client, col(Client.id) == col(Onboarding.client_id))
            .where(Client.conversation_id == channel_id)
            .where(col(Onboarding.state).not_in(CLOSED_STATES))
            .order_by(col(Onboarding.created_at).desc(), col(Onboarding.id).desc())
        )
        return self._session.exec(statement).first()

    def list_open(self) -> list[tuple[Onboarding, Client]]:
        """Every open onboarding with its client, oldest first."""
        statement = (
            select(Onboarding, Client)
            .join(Client, col(Client.id) == col(Onboarding.client_id))
            .where(col(Onboarding.state).not_in(CLOSED_STATES))
            .order_by(col(Onboarding.created_at), col(Onboarding.id))
        )
        return [(onboarding, client) for onboarding, client in self._session.exec(statement)]

    def list_recent(self, limit: int = 50) -> list[tuple[Onboarding, Client]]:
        """The newest onboardings in any state with their clients, newest first."""
        statement = (
            select(Onboarding, Client)
            .join(Client, col(Client.id) == col(Onboarding.client_id))
            .order_by(col(Onboarding.created_at).desc(), col(Onboarding.id).desc())
            .limit(limit)
        )
        return [(onboarding, client) for onboarding, client in self._session.exec(statement)]

    def due_for_expiry(self, now: datetime) -> list[Onboarding]:
        """Open onboardings whose `expires_at` has passed."""
        statement = (
            select(Onboarding)
            .where(col(Onboarding.state).not_in(CLOSED_STATES))
            .where(col(Onboarding.expires_at).is_not(None))
            .where(col(Onboarding.expires_at) <= now)
            .order_by(col(Onboarding.id))
        )
        return list(self._session.exec(statement))

    def set_pending_token(self, onboarding: Onboarding, token: str) -> None:
        """Keep the verified token, encrypted, until the onboarding completes or ends."""
        onboarding.pending_token = self._require_cipher().encrypt(token)

    def pending_token(self, onboarding: Onboarding) -> str | None:
        if onboarding.pending_token is None:
            return None
        return self._require_cipher().decrypt(onboarding.pending_token)

    def record_invite_message(
        self, onboarding: Onboarding, *, conversation_id: str, message_ref: str, at: datetime
    ) -> bool:
        """Keep a posted invite message as the onboarding's newest; False when it was kept
        before (a post found again in the channel's history)."""
        onboarding.conversation_id = conversation_id
        onboarding.invite_message_ref = message_ref
        known = self._session.exec(
            select(InviteMessage.id)
            .where(InviteMessage.onboarding_id == onboarding.id)
            .where(InviteMessage.message_ref == message_ref)
        ).first()
        if known is not None:
            return False
        assert onboarding.id is not None
        self._session.add(
            InviteMessage(
                onboarding_id=onboarding.id,
                conversation_id=conversation_id,
                message_ref=message_ref,
                posted_at=at,
            )
        )
        return True

    def invite_messages(self, onboarding_id: int) -> list[InviteMessage]:
        """Every invite message posted for the onboarding, oldest first."""
        statement = (
            select(InviteMessage)
            .where(InviteMessage.onboarding_id == onboarding_id)
            .order_by(col(InviteMessage.posted_at), col(InviteMessage.id))
        )
        return list(self._session.exec(statement))

    def erase_pending_token(self, onboarding: Onboarding) -> None:
        onboarding.pending_token = None

    def with_pending_token(self) -> list[Onboarding]:
        statement = select(Onboarding).where(col(Onboarding.pending_token).is_not(None))
        return list(self._session.exec(statement.order_by(col(Onboarding.id))))


class AuditRepository(_Repository):
    def record(
        self,
        kind: str,
        *,
        actor: str,
        onboarding_id: int | None = None,
        link_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEvent:
        detail = dict(detail or {})
        secret_keys = SECRET_DETAIL_KEYS.intersection(key.lower() for key in detail)
        if secret_keys:
            raise ValueError(f"audit detail may not hold secrets: {', '.join(sorted(secret_keys))}")
        event = AuditEvent(
            kind=kind,
            actor=actor,
            onboarding_id=onboarding_id,
            link_id=link_id,
            detail=detail,
            at=at or utcnow(),
        )
        self._session.add(event)
        self._session.flush()
        return event

    def for_onboarding(self, onboarding_id: int) -> list[AuditEvent]:
        statement = select(AuditEvent).where(AuditEvent.onboarding_id == onboarding_id)
        return list(self._session.exec(statement.order_by(col(AuditEvent.at), col(AuditEvent.id))))

    def forget_usernames(self, onboarding_id: int) -> int:
        """Drop the Nmbrs usernames (`username`, `..._username`) from the details of an
        onboarding's audit entries, its link's included; returns how many entries changed. The
        entries stay: what happened, who (the chat user id) and when."""
        changed = 0
        for event in self.for_onboarding(onboarding_id):
            kept = {key: value for key, value in event.detail.items() if not _names_user(key)}
            if kept != event.detail:
                event.detail = kept
                self._session.add(event)
                changed += 1
        self._session.flush()
        return changed

    def for_link(self, link_id: int) -> list[AuditEvent]:
        statement = select(AuditEvent).where(AuditEvent.link_id == link_id)
        return list(self._session.exec(statement.order_by(col(AuditEvent.at), col(AuditEvent.id))))


class TermsRepository(_Repository):
    def record(
        self,
        onboarding_id: int,
        *,
        terms_version: str,
        person_id: str,
        workspace_id: str | None = None,
        accepted_at: datetime | None = None,
    ) -> TermsAcceptance:
        acceptance = TermsAcceptance(
            onboarding_id=onboarding_id,
            terms_version=terms_version,
            person_id=person_id,
            workspace_id=workspace_id,
            accepted_at=accepted_at or utcnow(),
        )
        self._session.add(acceptance)
        self._session.flush()
        return acceptance

    def for_onboarding(self, onboarding_id: int) -> list[TermsAcceptance]:
        statement = select(TermsAcceptance).where(TermsAcceptance.onboarding_id == onboarding_id)
        return list(self._session.exec(statement.order_by(col(TermsAcceptance.id))))


# How many company refs one query of LinkRepository.held_elsewhere binds.
HELD_ELSEWHERE_CHUNK = 500


class LinkRepository(_Repository):
    def create(
        self,
        *,
        onboarding: Onboarding,
        username: str,
        token: str,
        domain: str,
        companies: Iterable[CompanyLike],
        provider: str = "nmbrs",
    ) -> PayrollLink:
        """Store a link with its token encrypted and one row per chosen company.

        At most one link per onboarding (a unique constraint backs this up)."""
        assert onboarding.id is not None, "add the onboarding before linking it"
        link = PayrollLink(
            onboarding_id=onboarding.id,
            client_id=onboarding.client_id,
            provider=provider,
            account_label=username,
            encrypted_secret=self._require_cipher().encrypt(token),
            environment={"domain": domain},
        )
        self._session.add(link)
        self._session.flush()
        assert link.id is not None
        for company in companies:
            self._session.add(
                LinkedCompany(
                    link_id=link.id,
                    provider_company_ref=str(company.id),
                    guid=company.guid,
                    number=company.number,
                    name=company.name,
                )
            )
        self._session.flush()
        return link

    def get(self, link_id: int) -> PayrollLink | None:
        return self._session.get(PayrollLink, link_id)

    def require(self, link_id: int) -> PayrollLink:
        link = self.get(link_id)
        if link is None:
            raise NotFound(f"link {link_id} does not exist")
        return link

    def for_onboarding(self, onboarding_id: int) -> PayrollLink | None:
        statement = select(PayrollLink).where(PayrollLink.onboarding_id == onboarding_id)
        return self._session.exec(statement).first()

    def companies(self, link_id: int) -> list[LinkedCompany]:
        statement = select(LinkedCompany).where(LinkedCompany.link_id == link_id)
        return list(self._session.exec(statement.order_by(col(LinkedCompany.number))))

    def linked_elsewhere(self, link: PayrollLink) -> list[tuple[LinkedCompany, Client]]:
        """The companies of `link` that another link still in force holds too (the same
        provider's company ref, or the same GUID), as that link's rows with their client."""
        assert link.id is not None
        mine = self.companies(link.id)
        return self.held_elsewhere(
            link.provider,
            [company.provider_company_ref for company in mine],
            guids=[company.guid for company in mine if company.guid],
            except_onboarding_id=link.onboarding_id,
        )

    def held_elsewhere(
        self,
        provider: str,
        refs: Sequence[str],
        *,
        guids: Sequence[str] = (),
        except_onboarding_id: int,
    ) -> list[tuple[LinkedCompany, Client]]:
        """The companies among `refs` (the provider's company refs) or `guids` that a link
        still in force holds, other than the link of onboarding `except_onboarding_id`: that
        link's rows with their client. Asked in chunks, so a login's thousands of companies
        stay within the database's limit of bound values."""
        found: list[tuple[LinkedCompany, Client]] = []
        for start in range(0, max(len(refs), len(guids)), HELD_ELSEWHERE_CHUNK):
            some_refs = refs[start : start + HELD_ELSEWHERE_CHUNK]
            some_guids = guids[start : start + HELD_ELSEWHERE_CHUNK]
            same_company = and_(
                col(PayrollLink.provider) == provider,
                col(LinkedCompany.provider_company_ref).in_(some_refs),
            )
            if some_guids:
                same_company = or_(same_company, col(LinkedCompany.guid).in_(some_guids))
            statement = (
                select(LinkedCompany, Client)
                .join(PayrollLink, col(PayrollLink.id) == col(LinkedCompany.link_id))
                .join(Client, col(Client.id) == col(PayrollLink.client_id))
                .where(col(PayrollLink.onboarding_id) != except_onboarding_id)
                .where(col(PayrollLink.revoked_at).is_(None))
                .where(same_company)
            )
            found.extend((company, client) for company, client in self._session.exec(statement))
        unique = {company.id: (company, client) for company, client in found}
        return sorted(unique.values(), key=lambda row: (row[0].number, row[0].id or 0))

    def token(self, link: PayrollLink) -> str | None:
        """The plaintext token, or None once unlinked."""
        if link.encrypted_secret is None:
            return None
        return self._require_cipher().decrypt(link.encrypted_secret)

    def store_renewed_secret(self, link: PayrollLink, secret: str, *, at: datetime) -> None:
        """Keep a renewed grant (encrypted) in place of the link's secret, renewed `at`."""
        link.encrypted_secret = self._require_cipher().encrypt(secret)
        link.grant_renewed_at = at
        self._session.add(link)
        self._session.flush()

    def list_summaries(self) -> list[LinkSummary]:
        """Every link, unlinked ones included, oldest first, with client and companies."""
        rows = self._session.exec(
            select(PayrollLink, Client)
            .join(Client, col(Client.id) == col(PayrollLink.client_id))
            .order_by(col(PayrollLink.id))
        ).all()
        companies: dict[int, list[LinkedCompany]] = {}
        for company in self._session.exec(
            select(LinkedCompany).order_by(col(LinkedCompany.number), col(LinkedCompany.id))
        ):
            companies.setdefault(company.link_id, []).append(company)
        return [
            LinkSummary(link=link, client=client, companies=companies.get(link.id or 0, []))
            for link, client in rows
        ]

    def unlink(self, link: PayrollLink, *, actor: str, at: datetime | None = None) -> bool:
        """Erase the token, mark the link revoked and audit it. False if it was already
        unlinked (nothing changes then)."""
        if link.revoked_at is not None:
            return False
        link.encrypted_secret = None
        link.revoked_at = at or utcnow()
        self._session.add(link)
        AuditRepository(self._session, self._cipher).record(
            AUDIT_LINK_UNLINKED,
            actor=actor,
            onboarding_id=link.onboarding_id,
            link_id=link.id,
            detail={"username": link.account_label, "domain": link.environment["domain"]},
            at=link.revoked_at,
        )
        return True

    def with_token(self) -> list[PayrollLink]:
        statement = select(PayrollLink).where(col(PayrollLink.encrypted_secret).is_not(None))
        return list(self._session.exec(statement.order_by(col(PayrollLink.id))))


class SqlUnitOfWork:
    """One transaction on `engine`; see the module docstring."""

    clients: ClientRepository
    onboardings: OnboardingRepository
    audit: AuditRepository
    terms: TermsRepository
    links: LinkRepository
    consents: ConsentRequestRepository

    def __init__(self, engine: Engine, cipher: TokenCipher | None):
        self._engine = engine
        self._cipher = cipher
        self._session: Session | None = None

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("a unit of work is used for one block only")
        self._session = Session(self._engine, expire_on_commit=False)
        self.clients = ClientRepository(self._session, self._cipher)
        self.onboardings = OnboardingRepository(self._session, self._cipher)
        self.audit = AuditRepository(self._session, self._cipher)
        self.terms = TermsRepository(self._session, self._cipher)
        self.links = LinkRepository(self._session, self._cipher)
        self.consents = ConsentRequestRepository(self._session, self._cipher)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed and detaches the objects, which keep
        # their loaded values (a rollback would expire them and make them unreadable).
        self._require_session().close()
        if isinstance(exc, StaleDataError):
            raise _stale() from exc

    @property
    def session(self) -> Session:
        """The underlying session, for queries no repository offers yet."""
        return self._require_session()

    def flush(self) -> None:
        try:
            self._require_session().flush()
        except StaleDataError as exc:
            raise _stale() from exc

    def commit(self) -> None:
        try:
            self._require_session().commit()
        except StaleDataError as exc:
            self._require_session().rollback()
            raise _stale() from exc

    def rollback(self) -> None:
        self._require_session().rollback()

    def rotate_tokens(self) -> int:
        """Re-encrypt every stored token with the newest key; returns how many.

        Each row is a Core UPDATE, compare-and-set on the ciphertext read: a relink (or a new
        pending token) committed between the read and the write keeps its new token, already
        under the newest key, instead of getting the old one back re-encrypted. Re-encrypting is
        no step of the customer's either, so it must not bump the version a customer mid-step
        holds in a view."""
        cipher = self.links._require_cipher()
        session = self._require_session()
        rotated = 0
        for link in self.links.with_token():
            assert link.encrypted_secret is not None
            result = session.execute(
                update(PayrollLink)
                .where(col(PayrollLink.id) == link.id)
                .where(col(PayrollLink.encrypted_secret) == link.encrypted_secret)
                .values(encrypted_secret=cipher.rotate(link.encrypted_secret))
                .execution_options(synchronize_session="fetch")
            )
            rotated += result.rowcount
        for onboarding in self.onboardings.with_pending_token():
            assert onboarding.pending_token is not None
            result = session.execute(
                update(Onboarding)
                .where(col(Onboarding.id) == onboarding.id)
                .where(col(Onboarding.pending_token) == onboarding.pending_token)
                .values(pending_token=cipher.rotate(onboarding.pending_token))
                .execution_options(synchronize_session="fetch")
            )
            rotated += result.rowcount
        return rotated

    def _require_session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work in a `with` block")
        return self._session


def _violates(error: IntegrityError, index: str, sqlite_columns: str) -> bool:
    """Whether the failed write broke the unique index `index`. PostgreSQL names the index;
    SQLite names only the columns ("UNIQUE constraint failed: onboarding.conversation_id")."""
    diagnostics = getattr(error.orig, "diag", None)
    if diagnostics is not None:
        return getattr(diagnostics, "constraint_name", None) == index
    return f"UNIQUE constraint failed: {sqlite_columns}" in str(error.orig)


def _stale() -> StaleUpdate:
    return StaleUpdate("the onboarding was changed by someone else; reload and try again")


UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def unit_of_work_factory(engine: Engine, cipher: TokenCipher | None) -> UnitOfWorkFactory:
    """A callable that opens a fresh unit of work per use case."""
    return lambda: SqlUnitOfWork(engine, cipher)
