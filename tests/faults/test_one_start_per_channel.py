"""Two account managers start an onboarding in one channel at the same moment, against
`onboard-bot serve --workers 2` on PostgreSQL: one is started, the other is told it is already
running, and the database holds one open onboarding. (With the in-process lock of before, two
submissions that reached different workers made one onboarding each.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.i18n import catalogue
from bot.transports.slack.views.manager import CALLBACK_RESULT, CALLBACK_START
from devslack import DevSlack, run_devslack
from devslack.workspace import MANAGER, OUR_TEAM, SHARED_CHANNEL, User, default_workspace
from payroll.nmbrs_soap.sandbox import SandboxHandle
from storage.db import make_engine
from storage.models import Onboarding
from tests.served import serve_workers

SECOND_MANAGER = "U0MANAGER2"
NL = catalogue("nl")  # the manager sees the default language
STARTED = NL.text("manager.result.title_started")
RUNNING = NL.text("manager.result.title_running")


@pytest.fixture
def slack() -> Iterator[DevSlack]:
    workspace = default_workspace()
    workspace.add_user(User(SECOND_MANAGER, OUR_TEAM, "bram", "Bram Visser"))
    workspace.channels[SHARED_CHANNEL].members.append(SECOND_MANAGER)
    workspace.usergroups["S0MANAGERS"].append(SECOND_MANAGER)
    with run_devslack(workspace) as fake:
        yield fake


@pytest.fixture
def two_workers(
    database_url: str, slack: DevSlack, nmbrs: SandboxHandle, tmp_path: Path
) -> Iterator[None]:
    if not database_url.startswith("postgresql"):
        pytest.skip("serve --workers above 1 runs on PostgreSQL only")
    with serve_workers(database_url, slack, nmbrs, tmp_path, workers=2):
        yield


def test_two_managers_starting_in_one_channel_at_once_make_one_onboarding(
    two_workers: None, slack: DevSlack, database_url: str
) -> None:
    managers = [slack.user(MANAGER), slack.user(SECOND_MANAGER)]
    for manager in managers:
        manager.command("/onboard", channel=SHARED_CHANNEL)
        start = manager.wait_for_modal(lambda v: v.callback_id == CALLBACK_START, timeout=10)
        manager.fill(
            start,
            {
                "client_name.value": "Bakkerij de Vries",
                "channel.value": SHARED_CHANNEL,
                "language.value": "en",
            },
        )
    together = threading.Barrier(len(managers))

    def submit(manager) -> None:  # type: ignore[no-untyped-def]
        together.wait(timeout=10)
        manager.submit()

    threads = [threading.Thread(target=submit, args=(manager,)) for manager in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    titles = sorted(
        manager.wait_for_modal(
            lambda v: v.callback_id == CALLBACK_RESULT and v.title in (STARTED, RUNNING),
            timeout=15,
        ).title
        for manager in managers
    )
    assert titles == sorted([STARTED, RUNNING])
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            onboardings = list(session.exec(select(Onboarding)))
    finally:
        engine.dispose()
    assert [(o.state, o.conversation_id) for o in onboardings] == [("invited", SHARED_CHANNEL)]
