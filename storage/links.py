"""Reading payroll links: the API our payroll-sync jobs use, and the queries the bot's link
maintenance needs.

A consuming job reads one link at a time; every read of credentials is audited, and only an
active link gives them out::

    from storage.db import make_engine
    from storage.crypto import TokenCipher
    from storage.links import LinkReader
    from storage.repository import unit_of_work_factory

    reader = LinkReader(unit_of_work_factory(engine, cipher), reader="payroll-sync",
                        tokens=grant_keeper)   # or container.link_reader("payroll-sync")
    for link in reader.active_links():          # one at a time, each read audited
        sync(link.provider, link.token, link.domain, [c.guid for c in link.companies])

`link.token` is what goes in the auth header: a SOAP link's token, or a REST link's access
token, valid for at least 5 minutes (the token source, `bot.usecases.grants.GrantKeeper`,
refreshes the grant first when needed, one refresh per link at a time across processes).

`reader.read(link_id)` reads one link: `LinkNotActive` when it needs relinking or was unlinked
(no credentials then), `NotFound` when it does not exist. The audit entry
(`link_credentials_read`, actor = the reader's name) is committed before the credentials are
returned, so no read goes unrecorded. `ActiveLink` never shows its token in repr or str.

A link is in one of three states (`link_state`): active; needs_relink (a verification found
the token revoked, a permission switched off or a chosen company gone: the customer must
relink); unlinked (`revoked_at` set, token erased).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, or_, update
from sqlmodel import col, select

from storage.models import Client, LinkedCompany, Onboarding, PayrollLink
from storage.repository import LinkSummary, NotFound, SqlUnitOfWork, UnitOfWorkFactory

ACTIVE = "active"
NEEDS_RELINK = "needs_relink"
UNLINKED = "unlinked"

# The provider name of SOAP links (bot.core.payroll.NMBRS_SOAP): their stored token is sent as
# it is.
SOAP_PROVIDER = "nmbrs"

AUDIT_CREDENTIALS_READ = "link_credentials_read"
# AuditEvent.actor holds at most this many characters.
READER_NAME_LIMIT = 64


def link_state(link: PayrollLink) -> str:
    """active, needs_relink or unlinked."""
    if link.revoked_at is not None:
        return UNLINKED
    return link.status


@dataclass(frozen=True)
class CompanyRef:
    """A linked company: the provider's ref (SOAP: its int id as digits; REST: its companyId)
    and its GUID (Nmbrs' company identity across its APIs: the REST companyId)."""

    id: str
    number: int
    name: str
    guid: str | None


@dataclass(frozen=True)
class ActiveLink:
    """What a consuming job needs to call Nmbrs for one client. The token is plaintext: keep it
    in memory only, send it only in the auth header."""

    link_id: int
    client_id: int
    client_name: str
    provider: str
    username: str
    token: str = field(repr=False)
    domain: str
    companies: tuple[CompanyRef, ...]

    def __str__(self) -> str:
        return f"ActiveLink(link_id={self.link_id}, client={self.client_name!r})"


class LinkNotActive(Exception):
    """The link needs relinking or was unlinked: its credentials are not given out."""

    def __init__(self, link_id: int, state: str):
        self.link_id = link_id
        self.state = state
        super().__init__(f"link {link_id} is {state}, not active")


class TokenSource(Protocol):
    """Where a reader gets a link's valid token: for a REST link its access token, refreshed
    when it is about to expire (`bot.usecases.grants.GrantKeeper`); LinkNotActive when the
    link stopped being active (a refused grant makes it need relinking)."""

    def access_token(self, link_id: int) -> str: ...


class LinkReader:
    """Active links with their decrypted credentials, for consuming jobs. `reader` names the job
    in the audit trail. `tokens` gives the token of links whose provider is not SOAP (a REST
    grant's access token, kept valid): without it, such a link cannot be read."""

    def __init__(
        self, unit_of_work: UnitOfWorkFactory, *, reader: str, tokens: TokenSource | None = None
    ):
        if not reader.strip() or len(reader) > READER_NAME_LIMIT:
            raise ValueError(f"reader must be a name of 1 to {READER_NAME_LIMIT} characters")
        self._unit_of_work = unit_of_work
        self._tokens = tokens
        self.reader = reader

    def active_link_ids(self) -> list[int]:
        with self._unit_of_work() as uow:
            return active_link_ids(uow)

    def read(self, link_id: int, *, purpose: str | None = None) -> ActiveLink:
        """One active link with its credentials; the read is audited (with `purpose`, if given).
        A REST link's token is its access token, valid for at least a few minutes."""
        access_token = self._access_token(link_id)
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            state = link_state(link)
            if state != ACTIVE:
                raise LinkNotActive(link_id, state)
            token = access_token if access_token is not None else uow.links.token(link)
            assert token is not None, "an active link has a token"
            client = uow.clients.get(link.client_id)
            assert client is not None and link.id is not None
            companies = tuple(
                CompanyRef(id=c.provider_company_ref, number=c.number, name=c.name, guid=c.guid)
                for c in uow.links.companies(link.id)
            )
            detail = {"reader": self.reader}
            if purpose:
                detail["purpose"] = purpose
            uow.audit.record(
                AUDIT_CREDENTIALS_READ,
                actor=self.reader,
                onboarding_id=link.onboarding_id,
                link_id=link.id,
                detail=detail,
            )
            uow.commit()
        return ActiveLink(
            link_id=link.id,
            client_id=client.id or 0,
            client_name=client.name,
            provider=link.provider,
            username=link.account_label,
            token=token,
            domain=link.environment["domain"],
            companies=companies,
        )

    def _access_token(self, link_id: int) -> str | None:
        """The token source's token for a link that is not SOAP (before the audited read, in
        transactions of its own); None for a SOAP link (its stored token is the one)."""
        with self._unit_of_work() as uow:
            link = uow.links.require(link_id)
            provider = link.provider
        if provider == SOAP_PROVIDER:
            return None
        if self._tokens is None:
            raise RuntimeError(f"link {link_id} is a {provider} link: read it with a token source")
        return self._tokens.access_token(link_id)

    def active_links(self, *, purpose: str | None = None) -> Iterator[ActiveLink]:
        """Every active link, read (and audited) one at a time as the caller advances. A link
        that stopped being active in the meantime is skipped."""
        for link_id in self.active_link_ids():
            try:
                yield self.read(link_id, purpose=purpose)
            except (LinkNotActive, NotFound):
                continue


# --- queries of the link maintenance (bot.usecases) ------------------------------------------


def active_link_ids(uow: SqlUnitOfWork) -> list[int]:
    statement = (
        select(PayrollLink.id)
        .where(col(PayrollLink.revoked_at).is_(None))
        .where(PayrollLink.status == ACTIVE)
        .order_by(col(PayrollLink.id))
    )
    return [link_id for link_id in uow.session.exec(statement) if link_id is not None]


def lock_link(uow: SqlUnitOfWork, link_id: int) -> bool:
    """Take the link's row lock for the rest of the caller's transaction (an UPDATE that changes
    nothing: SQLite's write lock, PostgreSQL's row lock), so anything read after it is what the
    last holder committed. False when the link does not exist."""
    result = uow.session.execute(
        update(PayrollLink)
        .where(col(PayrollLink.id) == link_id)
        .values(status=col(PayrollLink.status))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def grants_due_for_renewal(
    uow: SqlUnitOfWork, *, provider: str, renewed_before: datetime
) -> list[int]:
    """Active links of `provider` whose grant was last renewed (or, never renewed, made) before
    the moment given, oldest first."""
    renewed = func.coalesce(col(PayrollLink.grant_renewed_at), col(PayrollLink.created_at))
    statement = (
        select(PayrollLink.id)
        .where(col(PayrollLink.revoked_at).is_(None))
        .where(PayrollLink.status == ACTIVE)
        .where(PayrollLink.provider == provider)
        .where(renewed < renewed_before)
        .order_by(col(PayrollLink.id))
    )
    return [link_id for link_id in uow.session.exec(statement) if link_id is not None]


def linked_ids(uow: SqlUnitOfWork) -> list[int]:
    """Every link not unlinked (active or needing a relink), oldest first."""
    statement = (
        select(PayrollLink.id)
        .where(col(PayrollLink.revoked_at).is_(None))
        .order_by(col(PayrollLink.id))
    )
    return [link_id for link_id in uow.session.exec(statement) if link_id is not None]


def link_summary(uow: SqlUnitOfWork, link_id: int) -> LinkSummary:
    """One link with its client and companies (never the token); NotFound if unknown."""
    link = uow.links.require(link_id)
    client = uow.clients.get(link.client_id)
    assert client is not None, "a link always has a client"
    return LinkSummary(link=link, client=client, companies=uow.links.companies(link_id))


def change_status(
    uow: SqlUnitOfWork,
    link_id: int,
    *,
    expected_status: str,
    expected_token: bytes,
    status: str,
    problem: dict | None,
    verified_at: datetime | None = None,
) -> bool:
    """Move a link from `expected_status` to `status`, only while its token is still the one
    that was checked (a relink in between makes the check's finding stale). Returns whether it
    moved: of two concurrent verifications exactly one does, so a change is reported once."""
    values: dict = {"status": status, "problem": problem}
    if verified_at is not None:
        values["verified_at"] = verified_at
    result = uow.session.execute(
        update(PayrollLink)
        .where(col(PayrollLink.id) == link_id)
        .where(col(PayrollLink.revoked_at).is_(None))
        .where(col(PayrollLink.status) == expected_status)
        .where(col(PayrollLink.encrypted_secret) == expected_token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_verified(uow: SqlUnitOfWork, link_id: int, *, expected_token: bytes, at: datetime) -> bool:
    """Record a verification that found an active link working."""
    return change_status(
        uow,
        link_id,
        expected_status=ACTIVE,
        expected_token=expected_token,
        status=ACTIVE,
        problem=None,
        verified_at=at,
    )


def replace_companies(
    uow: SqlUnitOfWork, link_id: int, companies: list[CompanyRef]
) -> tuple[list[LinkedCompany], list[LinkedCompany]]:
    """Make the link's companies exactly `companies` (rows kept where the id stays, their GUID
    filled in when it was missing). Returns the (added, removed) rows."""
    current = {row.provider_company_ref: row for row in uow.links.companies(link_id)}
    wanted = {company.id: company for company in companies}
    removed = [row for company_id, row in current.items() if company_id not in wanted]
    for row in removed:
        uow.session.delete(row)
    added = []
    for company_id, company in wanted.items():
        row = current.get(company_id)
        if row is None:
            row = LinkedCompany(
                link_id=link_id,
                provider_company_ref=str(company.id),
                guid=company.guid,
                number=company.number,
                name=company.name,
            )
            added.append(row)
        else:
            row.guid = row.guid or company.guid
            row.name = company.name
        uow.session.add(row)
    uow.flush()
    return added, removed


def ended_onboardings_to_erase(
    uow: SqlUnitOfWork, *, states: frozenset[str], ended_before: datetime
) -> list[Onboarding]:
    """Onboardings that ended in one of `states` before the moment given and still hold their
    data. An onboarding's last progress is the moment it ended."""
    statement = (
        select(Onboarding)
        .where(col(Onboarding.state).in_(sorted(states)))
        .where(col(Onboarding.data_erased_at).is_(None))
        .where(col(Onboarding.last_progress_at) <= ended_before)
        .order_by(col(Onboarding.id))
    )
    return list(uow.session.exec(statement))


def ended_onboardings_not_erased(uow: SqlUnitOfWork, *, states: frozenset[str]) -> list[Onboarding]:
    """Onboardings that ended in one of `states`, or whose link was unlinked, and whose data the
    retention job has not erased yet (it checks that none still holds a kept token or a
    session)."""
    statement = (
        select(Onboarding)
        .outerjoin(PayrollLink, col(PayrollLink.onboarding_id) == col(Onboarding.id))
        .where(col(Onboarding.data_erased_at).is_(None))
        .where(
            or_(
                col(Onboarding.state).in_(sorted(states)),
                col(PayrollLink.revoked_at).is_not(None),
            )
        )
        .order_by(col(Onboarding.id))
    )
    return list(uow.session.exec(statement))


def erase_unlinked_details(uow: SqlUnitOfWork, link: PayrollLink) -> None:
    """What an unlinked link still said about the Nmbrs account (its username, the companies it
    linked, the problem found): erased by the retention job. The link's row stays as the record
    that it existed: client, provider, domain, when it was made and unlinked."""
    assert link.revoked_at is not None and link.id is not None, "only an unlinked link"
    link.encrypted_secret = None
    link.account_label = ""
    link.problem = None
    uow.session.add(link)
    for row in uow.links.companies(link.id):
        uow.session.delete(row)
    uow.flush()


def forget_contact_once_erased(uow: SqlUnitOfWork, client_id: int) -> None:
    """Erase the client's contact person (a chat user id) once none of its onboardings still
    holds data; the client's name and conversation stay."""
    holding = select(Onboarding.id).where(
        col(Onboarding.client_id) == client_id, col(Onboarding.data_erased_at).is_(None)
    )
    client = uow.clients.get(client_id)
    if client is not None and uow.session.exec(holding).first() is None:
        client.contact_user_id = None
        uow.session.add(client)


def onboardings_with_link_sessions(uow: SqlUnitOfWork) -> list[Onboarding]:
    """Completed onboardings (the ones a customer can relink or change), for the retention job
    to drop abandoned relink and company sessions."""
    statement = (
        select(Onboarding)
        .join(PayrollLink, col(PayrollLink.onboarding_id) == col(Onboarding.id))
        .where(col(PayrollLink.revoked_at).is_(None))
        .order_by(col(Onboarding.id))
    )
    return list(uow.session.exec(statement))


def client_of(uow: SqlUnitOfWork, link: PayrollLink) -> Client:
    client = uow.clients.get(link.client_id)
    assert client is not None, "a link always has a client"
    return client


# --- the move of SOAP links to the REST API (bot.usecases.migration) -------------------------


@dataclass(frozen=True)
class LinkStanding:
    """A link not unlinked: which provider it works through and its status."""

    link_id: int
    provider: str
    status: str


def link_standings(uow: SqlUnitOfWork) -> list[LinkStanding]:
    """Every link not unlinked, oldest first."""
    statement = (
        select(PayrollLink.id, PayrollLink.provider, PayrollLink.status)
        .where(col(PayrollLink.revoked_at).is_(None))
        .order_by(col(PayrollLink.id))
    )
    return [
        LinkStanding(link_id, provider, status)
        for link_id, provider, status in uow.session.exec(statement)
        if link_id is not None
    ]
