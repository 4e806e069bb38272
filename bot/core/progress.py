"""Typed progress of an onboarding and of a relink or company change, to and from the JSON kept
with the onboarding (`step_data`).

The stored shape is the one the bot has always written, so existing rows read as before: a key
that is absent reads as None (or its empty default) and is written back only when set. Keys this
module does not know are kept as they are (`extra`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core.matching import CompanyMatch, MatchedBy
from bot.core.model import Company, looks_like_token

# What the retention job keeps of an erased onboarding.
KEPT_AFTER_ERASURE = ("step", "last", "started_at")


class CheckOutcome(StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class CheckRecord:
    """The last credential check: it worked (with any permissions missing), or Nmbrs failed."""

    outcome: CheckOutcome
    missing_permissions: tuple[str, ...] = ()
    # Set when this check was a re-check that found what the one before it found: when.
    unchanged_at: datetime | None = None


@dataclass(frozen=True)
class LastStep:
    """The step applied last and the counter it was applied at (exact replays get no notice)."""

    name: str
    from_step: int


@dataclass
class Draft:
    """What a closed modal held (never the token, nor a token typed as the username), so Start
    continues with it."""

    package: str | None = None
    terms_ticked: bool | None = None
    username: str | None = None
    chosen_ids: tuple[str, ...] | None = None

    FIELDS = ("package", "terms_ticked", "username", "chosen_ids")

    def merged(self, values: Mapping[str, Any]) -> Draft:
        known = {key: value for key, value in values.items() if key in self.FIELDS}
        if "chosen_ids" in known and known["chosen_ids"] is not None:
            known["chosen_ids"] = tuple(str(i) for i in known["chosen_ids"])
        if known.get("username") and looks_like_token(str(known["username"])):
            known["username"] = None
        return replace(self, **known)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in self.FIELDS:
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value) if key == "chosen_ids" else value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Draft:
        return cls().merged(data)


class SessionKind(StrEnum):
    RELINK = "relink"
    COMPANIES = "companies"


@dataclass
class LinkSession:
    """The customer's relink or change of companies (see `bot.core.link_flow` for stages)."""

    kind: str | None = None
    stage: str | None = None
    started_at: datetime | None = None
    username: str | None = None
    wrong: bool | None = None
    domain: str | None = None
    seen: tuple[Company, ...] | None = None
    guids: dict[str, str] | None = None
    missing: tuple[str, ...] | None = None
    chosen_ids: tuple[str, ...] | None = None
    chosen: tuple[Company, ...] | None = None
    reason: str | None = None
    # The other environment an account manager confirmed for this relink.
    confirmed_domain: str | None = None
    # A relink by consent: the provider the link moves to ("nmbrs-rest"), who approved for
    # which debtors, how each linked company matched a REST company, the last consent's error.
    provider: str | None = None
    approved_by: str | None = None
    debtors: tuple[str, ...] | None = None
    matches: tuple[CompanyMatch, ...] | None = None
    consent_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        simple = (
            "kind",
            "stage",
            "username",
            "wrong",
            "domain",
            "reason",
            "confirmed_domain",
            "provider",
            "approved_by",
            "consent_error",
        )
        for key in simple:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.started_at is not None:
            data["started_at"] = self.started_at.isoformat()
        if self.seen is not None:
            data["seen"] = triples(self.seen)
        if self.guids is not None:
            data["guids"] = {str(key): guid for key, guid in self.guids.items()}
        if self.missing is not None:
            data["missing"] = list(self.missing)
        if self.chosen_ids is not None:
            data["chosen_ids"] = list(self.chosen_ids)
        if self.chosen is not None:
            data["chosen"] = company_dicts(self.chosen)
        if self.debtors is not None:
            data["debtors"] = list(self.debtors)
        if self.matches is not None:
            data["matches"] = [
                {
                    "linked": company_dicts([match.linked])[0],
                    "rest": company_dicts([match.rest])[0] if match.rest else None,
                    "how": match.how.value,
                }
                for match in self.matches
            ]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkSession:
        return cls(
            kind=data.get("kind"),
            stage=data.get("stage"),
            started_at=_moment(data.get("started_at")),
            username=data.get("username"),
            wrong=data.get("wrong"),
            domain=data.get("domain"),
            seen=from_triples(data["seen"]) if "seen" in data else None,
            guids=(
                {str(key): guid for key, guid in data["guids"].items() if guid}
                if data.get("guids") is not None
                else None
            ),
            missing=tuple(data["missing"]) if "missing" in data else None,
            chosen_ids=tuple(str(i) for i in data["chosen_ids"]) if "chosen_ids" in data else None,
            chosen=from_dicts(data["chosen"]) if "chosen" in data else None,
            reason=data.get("reason"),
            confirmed_domain=data.get("confirmed_domain"),
            provider=data.get("provider"),
            approved_by=data.get("approved_by"),
            debtors=tuple(data["debtors"]) if "debtors" in data else None,
            matches=(
                tuple(
                    CompanyMatch(
                        linked=from_dicts([row["linked"]])[0],
                        rest=from_dicts([row["rest"]])[0] if row.get("rest") else None,
                        how=MatchedBy(row["how"]),
                    )
                    for row in data["matches"]
                )
                if "matches" in data
                else None
            ),
            consent_error=data.get("consent_error"),
        )


@dataclass
class OnboardingProgress:
    """Everything an onboarding keeps between steps besides its state."""

    step: int = 0
    last: LastStep | None = None
    started_at: datetime | None = None
    package: str | None = None
    draft: Draft | None = None
    prepared: bool = False
    username: str | None = None
    credentials_error: str | None = None
    narrowing: bool = False
    check: CheckRecord | None = None
    # What the login sees ([id, number, name] when stored) and what the customer chose.
    companies: tuple[Company, ...] | None = None
    domain: str | None = None
    chosen: tuple[Company, ...] | None = None
    failed_attempts: tuple[datetime, ...] | None = None
    handoff_reason: str | None = None
    # The account manager who took a handoff off the to-do list (the client was helped).
    handoff_done_by: str | None = None
    link_id: int | None = None
    companies_seen: int | None = None
    completed_by: str | None = None
    link_session: LinkSession | None = None
    link_step: int = 0
    # The payroll provider the onboarding was made with (absent: SOAP, rows from before REST).
    provider: str | None = None
    # A consent's outcome: the Nmbrs login that approved and the debtors it spans ("number
    # name"), shown before the choice; the consent's last error ("refused", "exchange_failed",
    # "unavailable", "throttled", "quota").
    approved_by: str | None = None
    debtors: tuple[str, ...] | None = None
    consent_error: str | None = None
    # How many of the linked companies another client's link holds too (set at completion).
    already_linked: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> tuple[datetime, ...]:
        return self.failed_attempts or ()

    @property
    def ready_to_choose(self) -> bool:
        """The check worked, no permission is missing and the login sees companies."""
        check = self.check
        return (
            check is not None
            and check.outcome is CheckOutcome.OK
            and not check.missing_permissions
            and bool(self.companies)
        )

    def save_draft(self, values: Mapping[str, Any]) -> bool:
        """Merge draft values; False when nothing changed."""
        before = self.draft or Draft()
        after = before.merged(values)
        if after == before:
            return False
        self.draft = after
        return True

    def discard_lists(self) -> None:
        """Forget the company list, the draft and the check (the pending token goes apart)."""
        self.companies = None
        self.draft = None
        self.check = None

    def erased(self) -> OnboardingProgress:
        """What the retention job keeps: the step counters and when it started."""
        return OnboardingProgress(step=self.step, last=self.last, started_at=self.started_at)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data["step"] = self.step
        if self.last is not None:
            data["last"] = {"name": self.last.name, "from": self.last.from_step}
        if self.started_at is not None:
            data["started_at"] = self.started_at.isoformat()
        for key in (
            "package",
            "username",
            "credentials_error",
            "domain",
            "handoff_reason",
            "handoff_done_by",
            "provider",
            "approved_by",
            "consent_error",
        ):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        for key in ("link_id", "companies_seen", "completed_by", "already_linked"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.draft is not None:
            data["draft"] = self.draft.to_json()
        if self.prepared:
            data["prepared"] = True
        if self.narrowing:
            data["narrowing"] = True
        if self.check is not None:
            check: dict[str, Any] = {"outcome": self.check.outcome.value}
            if self.check.outcome is CheckOutcome.OK:
                check["missing_permissions"] = list(self.check.missing_permissions)
            if self.check.unchanged_at is not None:
                check["unchanged_at"] = self.check.unchanged_at.isoformat()
            data["check"] = check
        if self.companies is not None:
            data["companies"] = triples(self.companies)
        if self.chosen is not None:
            data["chosen"] = company_dicts(self.chosen)
        if self.failed_attempts is not None:
            data["failed_attempts"] = [moment.isoformat() for moment in self.failed_attempts]
        if self.link_session is not None:
            data["link_session"] = self.link_session.to_json()
        if self.link_step:
            data["link_step"] = self.link_step
        if self.debtors is not None:
            data["debtors"] = list(self.debtors)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> OnboardingProgress:
        data = data or {}
        last = data.get("last")
        check = data.get("check")
        draft = data.get("draft")
        session = data.get("link_session")
        return cls(
            step=data.get("step", 0),
            last=LastStep(last.get("name", ""), last.get("from", -1)) if last else None,
            started_at=_moment(data.get("started_at")),
            package=data.get("package"),
            draft=Draft.from_json(draft) if draft else None,
            prepared=bool(data.get("prepared")),
            username=data.get("username"),
            credentials_error=data.get("credentials_error"),
            narrowing=bool(data.get("narrowing")),
            check=(
                CheckRecord(
                    CheckOutcome(check.get("outcome", CheckOutcome.OK.value)),
                    tuple(check.get("missing_permissions") or ()),
                    _moment(check.get("unchanged_at")),
                )
                if check
                else None
            ),
            companies=from_triples(data["companies"]) if "companies" in data else None,
            domain=data.get("domain"),
            chosen=from_dicts(data["chosen"]) if "chosen" in data else None,
            failed_attempts=(
                tuple(datetime.fromisoformat(moment) for moment in data["failed_attempts"])
                if "failed_attempts" in data
                else None
            ),
            handoff_reason=data.get("handoff_reason"),
            handoff_done_by=data.get("handoff_done_by"),
            link_id=data.get("link_id"),
            companies_seen=data.get("companies_seen"),
            completed_by=data.get("completed_by"),
            already_linked=data.get("already_linked"),
            link_session=LinkSession.from_json(session) if session else None,
            link_step=data.get("link_step", 0),
            provider=data.get("provider"),
            approved_by=data.get("approved_by"),
            debtors=tuple(data["debtors"]) if "debtors" in data else None,
            consent_error=data.get("consent_error"),
            extra={key: value for key, value in data.items() if key not in _KNOWN},
        )


# The keys OnboardingProgress reads and writes itself; others are kept in `extra`.
_KNOWN = frozenset(f.name for f in fields(OnboardingProgress)) - {"extra"}


def triples(companies: Iterable[Company]) -> list[list[Any]]:
    """Companies as compact [id, number, name] triples (lists of thousands are kept). Rows
    written before ids were strings hold SOAP's int ids; they read back as their digits."""
    return [[company.id, company.number, company.name] for company in companies]


def from_triples(rows: Iterable[Any]) -> tuple[Company, ...]:
    return tuple(Company(id=str(i), number=number, name=name) for i, number, name in rows)


def company_dicts(companies: Iterable[Company]) -> list[dict[str, Any]]:
    return [{"id": c.id, "number": c.number, "name": c.name, "guid": c.guid} for c in companies]


def from_dicts(rows: Iterable[Mapping[str, Any]]) -> tuple[Company, ...]:
    return tuple(
        Company(id=str(row["id"]), number=row["number"], name=row["name"], guid=row.get("guid"))
        for row in rows
    )


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
