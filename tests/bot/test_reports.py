"""Status reports, the daily digest and the nudges: what the bot says, and that it says it once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

import bot.core.events as events
from bot.clock import WorkingCalendar
from bot.core.events import EventBus, OnboardingEvent
from bot.core.migration import MigrationStatus
from bot.reports import StatusNotices, needing_attention_first, summarise
from bot.schedule import ReminderPolicy
from storage.crypto import TokenCipher, generate_key
from storage.models import Client, Onboarding, OutboxMessage
from storage.repository import unit_of_work_factory
from tests.slack_drawn import Drawn, draw, draw_row, not_verbatim

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
calendar = WorkingCalendar("Europe/Amsterdam")
policy = ReminderPolicy(calendar=calendar)

COMMON = {
    "onboarding_id": 1,
    "client_id": 1,
    "client_name": "Bakkerij <de Vries> & Zn",
    "channel_id": "C0SHARED",
    "actor": "U0CUSTOMER",
    "at": AT,
}
COMPANIES = [
    {"id": 100 + n, "number": n, "name": f"Vestiging {n}", "guid": None} for n in range(1, 13)
]

# One example of every status event, with what its report must say.
SAMPLES: dict[type[OnboardingEvent], tuple[dict, list[str]]] = {
    events.InviteCreated: (
        {"language": "en", "actor": "U0MANAGER"},
        ["uitnodiging", "<@U0MANAGER>"],
    ),
    events.OnboardingStarted: ({"actor_team_id": "T0CUSTOMER"}, ["begonnen"]),
    events.TermsAccepted: ({"terms_version": "2026-1", "package": "nmbrs"}, ["2026-1"]),
    events.HandedOff: (
        {"reason": "package_not_listed"},
        ["het salarispakket staat niet in de lijst"],
    ),
    events.CredentialsRejected: ({"attempts_left": 3}, ["nog 3"]),
    events.CredentialAttemptsBlocked: ({"blocked_until": "2026-11-26T11:00:00+00:00"}, ["12:00"]),
    events.CredentialBlockLifted: ({"actor": "U0MANAGER"}, ["opgeheven door <@U0MANAGER>"]),
    events.PackageChoiceReopened: ({"previous_package": "loket"}, ["kiest opnieuw"]),
    events.HandoffDone: ({"actor": "U0MANAGER"}, ["afgehandeld door <@U0MANAGER>"]),
    events.CredentialsVerified: (
        {"username": "api@bakkerij", "domain": "bakkerij", "companies_seen": 3},
        [],
    ),
    events.PermissionsMissing: (
        {"missing_permissions": ["CompanyService.WageTax_GetXML", "DebtorService.Environment_Get"]},
        ["2 API-rechten", "CompanyService.WageTax_GetXML, DebtorService.Environment_Get"],
    ),
    events.NoCompaniesVisible: ({"username": "api@bakkerij"}, ["geen toegang tot een bedrijf"]),
    events.ProviderFailed: ({"error": "unreachable"}, ["niet bereikbaar"]),
    events.OverAccessWarned: (
        {"companies_seen": 3, "companies_chosen": 2},
        ["toegang tot 3 bedrijven", "koos er 2", "AVG"],
    ),
    events.OverAccessConfirmed: ({"companies_seen": 3, "companies_chosen": 2}, ["koppelt er 2"]),
    events.OverAccessNarrowing: ({"companies_seen": 3}, ["beperken"]),
    events.OnboardingCompleted: (
        {
            "link_id": 7,
            "username": "api@bakkerij",
            "domain": "bakkerij",
            "companies": COMPANIES,
            "companies_seen": 12,
        },
        ["12 bedrijven", "Vestiging 1, Vestiging 2", "Vestiging 10 en nog 2"],
    ),
    events.CompaniesAlreadyLinked: (
        {
            "link_id": 8,
            "companies": [{"name": "Vestiging 1", "number": 1, "other_client": "Smith's Bakery"}],
            "manager": "U0MANAGER",
        },
        ["al gekoppeld", "Vestiging 1 (1) bij *Smith's Bakery*", "<@U0MANAGER>"],
    ),
    events.OnboardingCancelled: ({"actor": "U0MANAGER"}, ["gestopt door <@U0MANAGER>"]),
    events.OnboardingExpired: ({"actor": "system"}, ["verlopen", "token is gewist"]),
    events.AccessRefused: (
        {"actor": "U0STRANGER", "user_team_id": "T0CUSTOMER", "reason": "not_a_member"},
        ["<@U0STRANGER>", "geweigerd"],
    ),
    events.InviteResent: ({"actor": "U0MANAGER"}, ["opnieuw geplaatst", "<@U0MANAGER>"]),
    events.LinkUnlinked: (
        {"link_id": 7, "actor": "U0MANAGER"},
        ["koppeling verwijderd door <@U0MANAGER>"],
    ),
    events.LinkUnlinkedNotRevoked: (
        {"link_id": 7, "actor": "U0MANAGER"},
        [
            "koppeling verwijderd door <@U0MANAGER>",
            "toestemming voor de app zelf intrekken in Nmbrs",
        ],
    ),
}


def sample(event_class: type[OnboardingEvent]) -> OnboardingEvent:
    own, _ = SAMPLES[event_class]
    return event_class(**{**COMMON, **own})


class DrawnReports:
    """The status notices, drawn as Slack shows them."""

    def __init__(self, language: str):
        self.notices = StatusNotices(status_channel="C0STATUS", language=language, policy=policy)

    def __call__(self, uow, event: OnboardingEvent) -> None:  # type: ignore[no-untyped-def]
        self.notices(uow, event)

    def message_for(self, event: OnboardingEvent) -> Drawn | None:
        notice = self.notices.notice_for(event)
        return None if notice is None else draw(notice)

    def digest(self, *arguments, **options) -> Drawn:  # type: ignore[no-untyped-def]
        return draw(self.notices.digest(*arguments, **options))

    def nudge(self, row, number: int) -> Drawn:  # type: ignore[no-untyped-def]
        return draw(self.notices.nudge(row, number))


def reports(language: str = "nl") -> DrawnReports:
    return DrawnReports(language)


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_every_status_event_is_either_reported_or_knowingly_left_out() -> None:
    event_classes = {
        cls
        for cls in vars(events).values()
        if isinstance(cls, type) and issubclass(cls, OnboardingEvent) and cls is not OnboardingEvent
    }
    assert event_classes == set(SAMPLES)


@pytest.mark.parametrize("event_class", list(SAMPLES), ids=lambda cls: cls.kind)
def test_each_event_says_what_happened_in_the_status_channel(
    event_class: type[OnboardingEvent],
) -> None:
    _, expected = SAMPLES[event_class]
    message = reports().message_for(sample(event_class))
    if not expected:
        assert message is None
        return
    assert message is not None
    assert message.channel == "C0STATUS"
    assert "Bakkerij &lt;de Vries&gt; &amp; Zn" in message.text
    for fragment in expected:
        assert fragment in message.text


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_report_is_drawn_in_verbatim_sections_so_no_name_becomes_a_link(language) -> None:
    drawn = [reports(language).message_for(sample(event_class)) for event_class in SAMPLES]
    for message in [message for message in drawn if message is not None]:
        sections = message.payload["blocks"]
        assert not_verbatim(sections) == []
        assert "\n".join(section["text"]["text"] for section in sections) == message.text


def test_every_report_kind_fits_the_outbox_column() -> None:
    limit = OutboxMessage.__table__.c.kind.type.length
    for event_class in SAMPLES:
        message = reports().message_for(sample(event_class))
        assert message is None or len(message.kind) <= limit, message.kind


def test_reports_follow_the_default_language() -> None:
    message = reports("en").message_for(sample(events.OnboardingCompleted))
    assert message is not None
    assert "connected with 12 companies" in message.text
    assert "and 2 more" in message.text


def test_reports_name_neither_the_nmbrs_username_nor_the_domain() -> None:
    for event_class in SAMPLES:
        message = reports().message_for(sample(event_class))
        if message is not None:
            assert "api@bakkerij" not in message.text


def test_an_event_published_in_a_unit_of_work_leaves_exactly_one_report_on_commit(
    engine: Engine,
) -> None:
    uow = unit_of_work_factory(engine, TokenCipher([generate_key()]))
    bus = EventBus([reports()])
    with uow() as unit:
        client = unit.clients.add(
            Client(name="Bakkerij", workspace_id="T0CUSTOMER", conversation_id="C0SHARED")
        )
        onboarding = unit.onboardings.add(
            Onboarding(client_id=client.id, state="invited", started_by="U0MANAGER")
        )
        unit.commit()
    ids = {"onboarding_id": onboarding.id, "client_id": client.id}

    with uow() as unit:
        bus.publish(unit, dataclasses.replace(sample(events.OnboardingCancelled), **ids))
        unit.commit()
    with uow() as unit:  # rolled back: never committed, never reported
        bus.publish(unit, dataclasses.replace(sample(events.OnboardingStarted), **ids))

    rows = outbox(engine)
    assert [(row.kind, row.recipient, row.status) for row in rows] == [
        ("report.onboarding_cancelled", "C0STATUS", "pending")
    ]
    assert "gestopt" in draw_row(rows[0]).payload["text"]


# --- the digest and the nudges ------------------------------------------------------------


def onboarding_row(name: str, state: str, last_progress: datetime, now: datetime):
    client = Client(id=hash(name) % 1000, name=name, workspace_id="T0C", conversation_id="C0X")
    onboarding = Onboarding(
        id=hash(name) % 1000,
        client_id=client.id,
        state=state,
        started_by="U0MANAGER",
        created_at=last_progress,
        updated_at=last_progress,
        last_progress_at=last_progress,
        expires_at=last_progress + timedelta(days=14),
    )
    return summarise(onboarding, client, now=now, policy=policy)


def test_the_digest_counts_states_and_lists_the_stalled_first() -> None:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=AMSTERDAM)
    rows = [
        onboarding_row("Fresh", "invited", now - timedelta(hours=3), now),
        onboarding_row("Slow", "terms_accepted", now - timedelta(days=6), now),
        onboarding_row("Slower", "invited", now - timedelta(days=9), now),
    ]
    message = reports().digest(
        rows, {"completed": 2, "expired": 1, "cancelled": 0}, day=date(2026, 11, 26)
    )
    lines = message.text.splitlines()
    assert lines[0] == "📊 *Onboardings: overzicht van 26 november 2026*"
    assert lines[1] == "*Open:* 3 (uitgenodigd: 2, voorwaarden geaccepteerd: 1)"
    assert lines[2] == "*Sinds het vorige overzicht:* afgerond: 2, verlopen: 1"
    assert lines[3].startswith("*Vastgelopen*")
    assert lines[4].startswith("• *Slower*") and "7 werkdagen" in lines[4]
    assert lines[5].startswith("• *Slow*") and "4 werkdagen" in lines[5]
    assert len(lines) == 6
    assert message.dedupe_key == "digest:2026-11-26"


def test_a_quiet_day_has_a_short_digest() -> None:
    message = reports("en").digest([], {}, day=date(2026, 11, 26))
    assert message.text.splitlines()[1:] == [
        "*Open:* none",
        "*Since the previous overview:* nothing completed or ended",
        "Nothing stalled.",
    ]


def test_stalled_comes_first_and_then_the_longest_without_progress() -> None:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=AMSTERDAM)
    rows = [
        onboarding_row("A", "invited", now - timedelta(hours=1), now),
        onboarding_row("B", "invited", now - timedelta(days=8), now),
        onboarding_row("C", "invited", now - timedelta(days=2), now),
    ]
    assert [row.client_name for row in needing_attention_first(rows)] == ["B", "C", "A"]


def test_nudges_speak_the_clients_language_and_exist_once_per_period() -> None:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=AMSTERDAM)
    row = dataclasses.replace(
        onboarding_row("Bakkerij", "invited", datetime(2026, 11, 16, 9, 0, tzinfo=UTC), now),
        language="en",
    )
    first, second = reports().nudge(row, 1), reports().nudge(row, 2)
    assert first.channel == "C0X" and first.text.startswith("👋 A reminder")
    assert "30 November 2026" in second.text  # the day it expires
    assert first.dedupe_key != second.dedupe_key
    assert reports().nudge(row, 1).dedupe_key == first.dedupe_key


def test_the_digest_says_where_the_move_to_the_rest_api_stands() -> None:
    before = MigrationStatus(
        on_rest=4, total=10, days_left=90, soap_ends_on=date(2027, 3, 1), ended=False
    )
    lines = reports("en").digest([], {}, day=date(2026, 12, 1), migration=before).text.splitlines()
    assert lines[1] == "🔀 4 of 10 connections on the REST API, 90 days left."
    after = dataclasses.replace(before, days_left=0, ended=True)
    lines = reports().digest([], {}, day=date(2027, 3, 2), migration=after).text.splitlines()
    assert lines[1] == (
        "🔀 De SOAP-API van Nmbrs is afgesloten; nog 6 koppelingen moeten opnieuw gekoppeld worden."
    )
