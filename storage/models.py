"""SQLModel tables. Tokens are stored only as Fernet ciphertext (see storage.crypto)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from bot.core.flow import END_STATES
from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


# States an onboarding never leaves. Everything else is "open".
# Chat identifiers (workspace, conversation, person, message): Slack's are short, Teams' run to
# well over a hundred characters.
CHAT_ID_LENGTH = 255

CLOSED_STATES = frozenset(state.value for state in END_STATES)

# One open onboarding per channel: a partial unique index over the open ones, so two processes
# starting one in the same channel at once cannot both commit (storage.repository raises
# OpenOnboardingExists for the loser).
OPEN_PER_CHANNEL_INDEX = "uq_onboarding_open_per_channel"
_OPEN = text("state NOT IN (" + ", ".join(f"'{state}'" for state in sorted(CLOSED_STATES)) + ")")


class Client(SQLModel, table=True):
    """A client as met in a chat tool: its workspace there and the conversation shared with it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # The chat tool ("slack"); workspace and conversation ids are that tool's.
    transport: str = Field(default="slack", max_length=32)
    workspace_id: str = Field(max_length=CHAT_ID_LENGTH)
    conversation_id: str = Field(max_length=CHAT_ID_LENGTH, index=True)
    contact_user_id: str | None = Field(default=None, max_length=CHAT_ID_LENGTH)
    language: str = Field(default="nl", max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Onboarding(SQLModel, table=True):
    __table_args__ = (
        Index(
            OPEN_PER_CHANNEL_INDEX,
            "conversation_id",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    state: str = Field(max_length=32, index=True)
    # Non-secret data of the steps reached: package, username, domain, companies seen, chosen ids.
    # Top-level changes (step_data["x"] = ...) are tracked; mutate nested values by reassigning.
    step_data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(MutableDict.as_mutable(JSON), nullable=False)
    )
    # The verified token between the credential check and completion; erased after.
    pending_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    started_by: str = Field(max_length=CHAT_ID_LENGTH)
    # The client's conversation, where the onboarding runs and its invite is posted. Always set
    # (OnboardingRepository.add copies it from the client); the index above is over it, since
    # a partial index cannot reach the client's row.
    conversation_id: str | None = Field(default=None, max_length=CHAT_ID_LENGTH, nullable=False)
    # The transport's reference of the invite message (Slack: its ts), once posted.
    invite_message_ref: str | None = Field(default=None, max_length=CHAT_ID_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_progress_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the retention job (bot.usecases.retention) erased what an ended onboarding held.
    data_erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped by SQLAlchemy on every UPDATE, which matches on the old value: a stale write fails.
    version: int = Field(default=1)

    @declared_attr  # type: ignore[misc]
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}


class InviteMessage(SQLModel, table=True):
    """One invite message the bot posted for an onboarding (the first, and each resend), so
    every copy can be redrawn when the onboarding moves on: the older ones lose their buttons.
    `Onboarding.invite_message_ref` stays the newest."""

    __table_args__ = (
        UniqueConstraint("onboarding_id", "message_ref", name="uq_invitemessage_onboarding_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: int = Field(foreign_key="onboarding.id", index=True)
    conversation_id: str = Field(max_length=CHAT_ID_LENGTH)
    # The transport's reference of the message (Slack: its ts).
    message_ref: str = Field(max_length=CHAT_ID_LENGTH)
    posted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: int | None = Field(default=None, foreign_key="onboarding.id", index=True)
    link_id: int | None = Field(default=None, foreign_key="payrolllink.id", index=True)
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=64, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, index=True, sa_type=UTCDateTime)


class TermsAcceptance(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: int = Field(foreign_key="onboarding.id", index=True)
    terms_version: str = Field(max_length=32)
    # Who accepted, as the chat tool knows them, and in which of its workspaces.
    person_id: str = Field(max_length=CHAT_ID_LENGTH)
    workspace_id: str | None = Field(default=None, max_length=CHAT_ID_LENGTH)
    accepted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PayrollLink(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("onboarding_id", name="uq_payrolllink_onboarding"),)

    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: int = Field(foreign_key="onboarding.id")
    client_id: int = Field(foreign_key="client.id", index=True)
    provider: str = Field(default="nmbrs", max_length=32)
    # Whose account at the provider, as shown to people (the Nmbrs username).
    account_label: str = Field(max_length=200)
    # Fernet ciphertext of what the provider needs to connect (the Nmbrs API token); None once
    # unlinked.
    encrypted_secret: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    # The provider's account environment: {"domain": ...} for Nmbrs.
    environment: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "active", or "needs_relink" once a verification found the token revoked, permissions
    # switched off or chosen companies gone (see storage.links). Unlinked: `revoked_at` is set.
    status: str = Field(default="active", max_length=16, index=True)
    # The last check (verification or relink) that found the link working.
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why it needs relinking: {"reason", "since", "missing_permissions", "companies_gone"}.
    problem: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # When the grant was last renewed at the provider (a REST refresh, whose refresh token has
    # 30 days); None until the first refresh, when `created_at` stands in. Never secret.
    grant_renewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LinkedCompany(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("link_id", "provider_company_ref", name="uq_linkedcompany_link_company"),
    )

    id: int | None = Field(default=None, primary_key=True)
    link_id: int = Field(foreign_key="payrolllink.id", index=True)
    # The provider's id of the company, as a string (Nmbrs: its int id).
    provider_company_ref: str = Field(max_length=64)
    guid: str | None = Field(default=None, max_length=64)
    number: int
    name: str = Field(max_length=300)


class OutboxMessage(SQLModel, table=True):
    """A notice to send, written in the same transaction as the change it reports.

    The outbox worker (bot.outbox) claims due rows, has the transport draw and send them and
    marks them sent. Per recipient the oldest pending row goes first and the next waits for the
    pacing interval.
    """

    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outboxmessage_dedupe_key"),
        Index("ix_outboxmessage_recipient_pending", "recipient", "status", "id"),
        Index("ix_outboxmessage_recipient_sent", "recipient", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # What the transport draws ("report.<event>", "digest", "nudge", "invite_update", ...).
    kind: str = Field(max_length=64)
    # The chat transport that delivers the row.
    transport: str = Field(default="slack", max_length=32)
    # The conversation (or person) the message goes to.
    recipient: str = Field(max_length=CHAT_ID_LENGTH)
    # The rest of the notice (bot.core.notices.Notice): {"language", "values", "updates"}, the
    # last the message reference of an earlier message this one redraws in place.
    notice: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Set when a message must exist at most once (a nudge for one period, say).
    dedupe_key: str | None = Field(default=None, max_length=200)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = Field(default=0)
    available_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The transport's reference of the sent message (Slack: its ts).
    message_ref: str | None = Field(default=None, max_length=CHAT_ID_LENGTH)
    last_error: str | None = Field(default=None, max_length=500)


class JobRun(SQLModel, table=True):
    """One run of a scheduled job for one due time; the unique key makes it happen once."""

    __table_args__ = (UniqueConstraint("job", "due_at", name="uq_jobrun_job_due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    due_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeliveryHalt(SQLModel, table=True):
    """Slack took our access away (app_uninstalled, tokens_revoked): nothing is sent any more."""

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    reason: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConsentRequest(SQLModel, table=True):
    """A consent at the payroll provider under way: issued when the customer's browser starts it
    (`/nmbrs/start`), consumed once by the provider's callback (`/nmbrs/callback`).

    The `state` sent to the provider is kept only as its SHA-256 (`state_hash`, unique), the PKCE
    verifier only as Fernet ciphertext. `purpose` says what the consent is for ("onboarding",
    "relink"), `step` the step counter the screen was drawn at, `person_id` / `workspace_id` who
    it was issued to, `view_key` the open window to redraw. Rows are erased when their
    onboarding ends (see storage.consents)."""

    __table_args__ = (UniqueConstraint("state_hash", name="uq_consentrequest_state_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(max_length=64)
    onboarding_id: int = Field(foreign_key="onboarding.id", index=True)
    purpose: str = Field(max_length=32)
    step: int
    person_id: str = Field(max_length=CHAT_ID_LENGTH)
    workspace_id: str = Field(max_length=CHAT_ID_LENGTH)
    view_key: str = Field(max_length=CHAT_ID_LENGTH)
    encrypted_verifier: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
