from datetime import UTC, datetime, timedelta

import pytest

from bot.core import link_flow
from bot.core.link_flow import (
    IllegalLinkMove,
    IllegalLinkStep,
    LinkMove,
    LinkStatus,
    LinkStep,
    SessionKind,
    Stage,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_a_broken_link_is_marked_and_active_again_once_it_works_or_is_relinked():
    assert link_flow.next_status(LinkStatus.ACTIVE, LinkMove.MARK) is LinkStatus.NEEDS_RELINK
    assert link_flow.next_status(LinkStatus.NEEDS_RELINK, LinkMove.RECOVER) is LinkStatus.ACTIVE
    assert link_flow.next_status(LinkStatus.NEEDS_RELINK, LinkMove.RELINK) is LinkStatus.ACTIVE


def test_an_unlinked_link_does_not_move_any_more():
    for move in LinkMove:
        with pytest.raises(IllegalLinkMove):
            link_flow.next_status(LinkStatus.UNLINKED, move)


def test_a_step_runs_only_from_the_stages_the_table_names():
    relink = link_flow.start(SessionKind.RELINK, Stage.CREDENTIALS, NOW)
    assert link_flow.may_run(LinkStep.SUBMIT_RELINK, relink)
    assert not link_flow.may_run(LinkStep.CONFIRM_COMPANIES, relink)
    companies = link_flow.start(SessionKind.COMPANIES, Stage.CHOOSE, NOW)
    assert not link_flow.may_run(LinkStep.SUBMIT_RELINK, companies)


def test_an_illegal_stage_move_raises_and_leaves_the_session_as_it_was():
    session = link_flow.start(SessionKind.COMPANIES, Stage.CHOOSE, NOW)
    link_flow.move(session, Stage.OVER_ACCESS)
    with pytest.raises(IllegalLinkStep):
        link_flow.move(session, Stage.PERMISSIONS)
    assert session.stage == Stage.OVER_ACCESS
    link_flow.move(session, Stage.DONE)
    with pytest.raises(IllegalLinkStep):
        link_flow.move(session, Stage.CHOOSE)


def test_a_session_is_abandoned_after_a_day_unless_it_is_done():
    session = link_flow.start(SessionKind.RELINK, Stage.CREDENTIALS, NOW)
    assert not link_flow.is_abandoned(session, NOW + timedelta(hours=23))
    assert link_flow.is_abandoned(session, NOW + timedelta(hours=24))
    session.stage = Stage.DONE
    assert not link_flow.is_abandoned(session, NOW + timedelta(days=30))


def test_a_relink_in_another_environment_needs_the_account_managers_confirmation():
    session = link_flow.start(SessionKind.RELINK, Stage.CREDENTIALS, NOW)
    session.domain = "voorbeeld"
    assert not link_flow.needs_confirmation(session, "Voorbeeld")
    session.domain = "anderekantoor"
    assert link_flow.needs_confirmation(session, "voorbeeld")
    session.confirmed_domain = "anderekantoor"
    assert not link_flow.needs_confirmation(session, "voorbeeld")


def test_only_a_relink_waiting_for_it_is_confirmed_and_it_then_goes_on_as_any_relink():
    session = link_flow.start(SessionKind.RELINK, Stage.CREDENTIALS, NOW)
    assert not link_flow.may_run(LinkStep.CONFIRM_ENVIRONMENT, session)
    link_flow.move(session, Stage.CONFIRM_ENVIRONMENT)
    assert link_flow.may_run(LinkStep.CONFIRM_ENVIRONMENT, session)
    assert not link_flow.may_run(LinkStep.CHECK_AGAIN, session)
    assert not link_flow.may_run(LinkStep.SUBMIT_RELINK, session)
    with pytest.raises(IllegalLinkStep):
        link_flow.move(session, Stage.HANDOFF)
    link_flow.move(session, Stage.DONE)
