"""SQLModel tables. Tokens are stored only as Fernet ciphertext (see storage.crypto)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Client(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    slack_team_id: str = Field(max_length=32)
    slack_channel_id: str = Field(max_length=32, index=True)
    contact_user_id: str | None = Field(default=None, max_length=32)
    language: str = Field(default="nl", max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Onboarding(SQLModel, table=True):
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
    started_by: str = Field(max_length=32)
    invite_channel_id: str | None = Field(default=None, max_length=32)
    invite_message_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_progress_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped by SQLAlchemy on every UPDATE, which matches on the old value: a stale write fails.
    version: int = Field(default=1)

    @declared_attr  # type: ignore[misc]
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}


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
    slack_user_id: str = Field(max_length=32)
    slack_team_id: str | None = Field(default=None, max_length=32)
    accepted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PayrollLink(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("onboarding_id", name="uq_payrolllink_onboarding"),)

    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: int = Field(foreign_key="onboarding.id")
    client_id: int = Field(foreign_key="client.id", index=True)
    provider: str = Field(default="nmbrs", max_length=32)
    username: str = Field(max_length=200)
    # Fernet ciphertext; None once unlinked.
    encrypted_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    domain: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LinkedCompany(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("link_id", "nmbrs_id", name="uq_linkedcompany_link_nmbrs"),)

    id: int | None = Field(default=None, primary_key=True)
    link_id: int = Field(foreign_key="payrolllink.id", index=True)
    nmbrs_id: int
    guid: str | None = Field(default=None, max_length=64)
    number: int
    name: str = Field(max_length=300)
