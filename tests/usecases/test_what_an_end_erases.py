"""What the end of an onboarding erases, on SQLite and PostgreSQL against the Nmbrs sandbox.

No ciphertext outlives the end: an onboarding that is closed without a live link, or whose link
is unlinked, holds no token and no relink session, whichever path ended it (the customer's stop,
the account manager's cancel, expiry, an unlink from each of its three places, an abandoned
relink, the retention job). RETENTION_DAYS later the personal data goes too (the README's
"Personal data (AVG/GDPR)")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app
from bot.clock import SystemClock
from bot.core import link_flow
from bot.core.flow import OPEN_STATES, State
from bot.core.model import StepRef
from bot.core.progress import OnboardingProgress
from bot.core.screens import CredentialsScreen, PermissionsScreen
from bot.reports import reminder_policy, status_notices
from bot.settings import Settings
from bot.usecases.manager import ManagerTools
from payroll.nmbrs_soap.provider import SoapNmbrsProvider
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from storage.crypto import generate_key
from storage.models import Onboarding
from tests.usecases.link_world import (
    CHANNEL,
    CUSTOMER,
    MANAGER,
    NEW_TOKEN,
    STATUS,
    MigratedStorage,
    World,
    make_world,
)

runner = CliRunner()
SWITCHED_OFF = "EmployeeService.Schedule_Get"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Setting:
    """A world on a migrated database, the App Home's use cases and the key they share."""

    world: World
    manager: ManagerTools
    key: str


@pytest.fixture
def setting(
    database_url: str, nmbrs: SandboxHandle, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> Iterator[Setting]:
    key = generate_key()
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    storage = MigratedStorage(database_url, key)
    provider = SoapNmbrsProvider(nmbrs.base_url)
    world = make_world(nmbrs, storage, provider)
    settings = Settings(_env_file=None, status_channel=STATUS)
    manager = ManagerTools(
        unit_of_work=storage.unit_of_work,
        service=world.onboarding,
        reports=status_notices(settings),
        policy=reminder_policy(settings),
        clock=SystemClock(),
    )
    yield Setting(world, manager, key)
    provider.close()
    storage.close()


def assert_nothing_kept_after_the_end(world: World, now: datetime) -> None:
    """The invariant: a token (or a relink session naming the login and every company it sees)
    lives only on an open onboarding, or on a completed one with a live link whose relink is in
    progress and not abandoned."""
    with world.storage.unit_of_work() as uow:
        onboardings = list(uow.session.exec(select(Onboarding).order_by(col(Onboarding.id))))
        assert onboardings
        for onboarding in onboardings:
            assert onboarding.id is not None
            link = uow.links.for_onboarding(onboarding.id)
            session = OnboardingProgress.from_json(onboarding.step_data).link_session
            linked = link is not None and link.revoked_at is None
            if link is not None and not linked:
                assert link.encrypted_secret is None
            if onboarding.state not in OPEN_STATES and not linked:
                assert session is None, onboarding.step_data
            relinking = (
                onboarding.state == State.COMPLETED
                and linked
                and session is not None
                and not link_flow.is_abandoned(session, now)
            )
            if onboarding.state not in OPEN_STATES and not relinking:
                assert onboarding.pending_token is None, onboarding.state


# --- how each path gets to where a token is held ------------------------------------------


def onboarding_holding_a_token(world: World) -> int:
    """An open onboarding at the permissions step: the verified token is kept for Check again."""
    status = world.onboarding.create_invite(
        client_name="Bakkerij de Vries",
        channel_id=CHANNEL,
        team_id="T0CUSTOMER",
        started_by=MANAGER,
    )
    onboarding_id = status.onboarding_id
    world.nmbrs.accounts[DEMO_USERNAME].switch_off(SWITCHED_OFF)
    service = world.onboarding
    service.open(onboarding_id, CUSTOMER)
    service.accept_terms(ref(world, onboarding_id), CUSTOMER, accepted=True, package="nmbrs")
    service.acknowledge_preparation(ref(world, onboarding_id), CUSTOMER)
    service.submit_credentials(
        ref(world, onboarding_id), CUSTOMER, username=DEMO_USERNAME, token=DEMO_TOKEN
    )
    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
        assert onboarding.state == State.CREDENTIALS_VERIFIED
        assert onboarding.pending_token is not None
    return onboarding_id


def link_in_the_middle_of_a_relink(world: World) -> int:
    """A linked client whose relink stopped at the permissions stage: the new, verified token is
    kept on the onboarding, the session names the login and every company it sees."""
    onboarding_id = world.linked_client()
    world.revoke_token()
    world.nmbrs.accounts[DEMO_USERNAME].switch_off(SWITCHED_OFF)
    opened = world.links.open_relink(onboarding_id, CUSTOMER)
    assert isinstance(opened.screen, CredentialsScreen)
    outcome = world.links.submit_relink(
        opened.ref, CUSTOMER, username=DEMO_USERNAME, token=NEW_TOKEN
    )
    assert isinstance(outcome.screen, PermissionsScreen)
    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
        assert onboarding.pending_token is not None
        assert onboarding.step_data["link_session"]["seen"]
    return onboarding_id


def ref(world: World, onboarding_id: int) -> StepRef:
    with world.storage.unit_of_work() as uow:
        step = uow.onboardings.require(onboarding_id).step_data.get("step", 0)
    return StepRef(onboarding_id, step)


# --- the paths that end one -----------------------------------------------------------------


def customer_stops(setting: Setting) -> datetime:
    setting.world.links.stop_onboarding(onboarding_holding_a_token(setting.world), CUSTOMER)
    return START


def manager_cancels(setting: Setting) -> datetime:
    setting.manager.cancel(onboarding_holding_a_token(setting.world), manager=MANAGER)
    return START


def it_expires(setting: Setting) -> datetime:
    onboarding_holding_a_token(setting.world)
    later = START + timedelta(days=15)
    with freeze_time(later):
        assert len(setting.manager.expire_overdue(later)) == 1
    return later


def customer_removes_the_link(setting: Setting) -> datetime:
    onboarding_id = link_in_the_middle_of_a_relink(setting.world)
    setting.world.links.remove_link(onboarding_id, CUSTOMER)
    return START


def manager_unlinks_in_the_app_home(setting: Setting) -> datetime:
    onboarding_id = link_in_the_middle_of_a_relink(setting.world)
    assert setting.manager.unlink(setting.world.link_id(onboarding_id), manager=MANAGER)
    return START


def operator_unlinks_on_the_command_line(setting: Setting) -> datetime:
    onboarding_id = link_in_the_middle_of_a_relink(setting.world)
    environment = {
        "DATABASE_URL": setting.world.storage.url,
        "ENCRYPTION_KEYS": setting.key,
        "STATUS_CHANNEL": STATUS,
        "NMBRS_BASE_URL": setting.world.nmbrs.base_url,
    }
    link_id = setting.world.link_id(onboarding_id)
    result = runner.invoke(app, ["links", "unlink", str(link_id)], env=environment)
    assert result.exit_code == 0, result.output
    return START


def the_relink_is_abandoned(setting: Setting) -> datetime:
    link_in_the_middle_of_a_relink(setting.world)
    later = START + link_flow.SESSION_LIFETIME
    with freeze_time(later):
        assert setting.world.maintenance.erase_ended_data().sessions == 1
    return later


def retention_meets_what_an_older_unlink_left(setting: Setting) -> datetime:
    """An unlink of before this fix erased only the link's token; the retention job's next run
    erases what it left on the onboarding."""
    world = setting.world
    onboarding_id = link_in_the_middle_of_a_relink(world)
    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
        uow.links.unlink(uow.links.require(world.link_id(onboarding_id)), actor=MANAGER)
        onboarding.state = State.UNLINKED.value
        uow.commit()
    with freeze_time(START):
        assert world.maintenance.erase_ended_data().leftovers == 1
    return START


def retention_after_the_period(setting: Setting) -> datetime:
    world = setting.world
    onboarding_id = link_in_the_middle_of_a_relink(world)
    world.links.remove_link(onboarding_id, CUSTOMER)
    later = START + timedelta(days=Settings(_env_file=None).retention_days, hours=1)
    with freeze_time(later):
        assert world.maintenance.erase_ended_data().onboardings == 1
    return later


PATHS: list[Callable[[Setting], datetime]] = [
    customer_stops,
    manager_cancels,
    it_expires,
    customer_removes_the_link,
    manager_unlinks_in_the_app_home,
    operator_unlinks_on_the_command_line,
    the_relink_is_abandoned,
    retention_meets_what_an_older_unlink_left,
    retention_after_the_period,
]


@pytest.mark.parametrize("end", PATHS, ids=[path.__name__ for path in PATHS])
def test_no_ciphertext_is_kept_on_an_onboarding_after_its_end(
    setting: Setting, end: Callable[[Setting], datetime]
) -> None:
    with freeze_time(START):
        now = end(setting)
    assert_nothing_kept_after_the_end(setting.world, now)


# --- personal data, RETENTION_DAYS after the end ------------------------------------------

RETENTION = timedelta(days=Settings(_env_file=None).retention_days)


def everything_stored_about(world: World, onboarding_id: int) -> str:
    """Every row the bot keeps of an onboarding, its client, link, companies, audit and terms."""
    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
        link = uow.links.for_onboarding(onboarding_id)
        rows: list[object] = [onboarding, uow.clients.get(onboarding.client_id)]
        if link is not None and link.id is not None:
            rows += [link, *uow.links.companies(link.id)]
        rows += uow.audit.for_onboarding(onboarding_id) + uow.terms.for_onboarding(onboarding_id)
        return repr([vars(row) for row in rows])


def test_an_unlinked_link_keeps_its_login_for_the_retention_period_then_only_the_record(
    setting: Setting,
) -> None:
    world = setting.world
    with freeze_time(START):
        onboarding_id = link_in_the_middle_of_a_relink(world)
        world.links.remove_link(onboarding_id, CUSTOMER)
    with freeze_time(START + RETENTION - timedelta(minutes=1)):
        assert world.maintenance.erase_ended_data().onboardings == 0
    assert DEMO_USERNAME in everything_stored_about(world, onboarding_id)

    with freeze_time(START + RETENTION):
        assert world.maintenance.erase_ended_data().onboardings == 1

    assert DEMO_USERNAME not in everything_stored_about(world, onboarding_id)
    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
        link = uow.links.require(world.link_id(onboarding_id))
        companies = uow.links.companies(world.link_id(onboarding_id))
        trail = uow.audit.for_onboarding(onboarding_id)
    assert set(onboarding.step_data) <= {"step", "last", "started_at"}
    assert companies == [] and link.problem is None and link.encrypted_secret is None
    assert link.revoked_at is not None and link.environment == {"domain": "voorbeeld"}
    kinds = [event.kind for event in trail]
    assert "link_unlinked" in kinds and kinds[-1] == "onboarding_data_erased"
    assert {event.actor for event in trail} >= {CUSTOMER.user_id, "system"}


def test_a_cancelled_onboarding_loses_the_usernames_of_its_audit_trail_and_its_contact(
    setting: Setting,
) -> None:
    world = setting.world
    with freeze_time(START):
        onboarding_id = onboarding_holding_a_token(world)
        setting.manager.cancel(onboarding_id, manager=MANAGER)
    with world.storage.unit_of_work() as uow:
        client = uow.clients.get(uow.onboardings.require(onboarding_id).client_id)
        assert client is not None
        client.contact_user_id = CUSTOMER.user_id
        uow.commit()
    assert DEMO_USERNAME in everything_stored_about(world, onboarding_id)

    with freeze_time(START + RETENTION):
        world.maintenance.erase_ended_data()

    stored = everything_stored_about(world, onboarding_id)
    assert DEMO_USERNAME not in stored and "contact_user_id': None" in stored
    with world.storage.unit_of_work() as uow:
        kinds = [event.kind for event in uow.audit.for_onboarding(onboarding_id)]
        terms = uow.terms.for_onboarding(onboarding_id)
    assert "credentials_verified" in kinds and [t.person_id for t in terms] == ["U0CUSTOMER"]


def test_a_handed_off_onboarding_is_erased_after_the_retention_period(setting: Setting) -> None:
    world = setting.world
    with freeze_time(START):
        status = world.onboarding.create_invite(
            client_name="Bakkerij de Vries",
            channel_id=CHANNEL,
            team_id="T0CUSTOMER",
            started_by=MANAGER,
        )
        onboarding_id = status.onboarding_id
        world.onboarding.open(onboarding_id, CUSTOMER)
        world.onboarding.accept_terms(
            ref(world, onboarding_id), CUSTOMER, accepted=True, package="loket"
        )
    with freeze_time(START + RETENTION):
        assert world.maintenance.erase_ended_data().onboardings == 1
    with world.storage.unit_of_work() as uow:
        onboarding = uow.onboardings.require(onboarding_id)
    assert onboarding.state == State.HANDOFF and onboarding.data_erased_at is not None
    assert set(onboarding.step_data) <= {"step", "last", "started_at"}
