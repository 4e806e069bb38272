from datetime import UTC, datetime, timedelta

import pytest

from bot.core import flow
from bot.core.flow import END_STATES, OPEN_STATES, Event, IllegalTransition, State

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def test_the_main_line_runs_from_invite_to_completion():
    state = State.INVITED
    for event in (
        Event.ACCEPT_TERMS,
        Event.VERIFY_CREDENTIALS,
        Event.CHOOSE_COMPANIES,
        Event.COMPLETE,
    ):
        state = flow.next_state(state, event)
    assert state is State.COMPLETED


def test_check_again_keeps_verified_credentials_verified():
    assert (
        flow.next_state(State.CREDENTIALS_VERIFIED, Event.VERIFY_CREDENTIALS)
        is State.CREDENTIALS_VERIFIED
    )


def test_a_token_that_stopped_working_sends_the_customer_back_to_the_credentials():
    assert (
        flow.next_state(State.CREDENTIALS_VERIFIED, Event.RESET_CREDENTIALS) is State.TERMS_ACCEPTED
    )


def test_going_back_from_the_over_access_screen_returns_to_the_company_choice():
    assert flow.next_state(State.COMPANIES_CHOSEN, Event.RECONSIDER) is State.CREDENTIALS_VERIFIED


@pytest.mark.parametrize("state", [State.INVITED, State.TERMS_ACCEPTED, State.CREDENTIALS_VERIFIED])
def test_a_handoff_is_possible_until_companies_are_chosen(state):
    assert flow.next_state(state, Event.HAND_OFF) is State.HANDOFF


@pytest.mark.parametrize("state", sorted(OPEN_STATES))
def test_every_open_onboarding_can_be_cancelled_or_expire(state):
    assert flow.next_state(state, Event.CANCEL) is State.CANCELLED
    assert flow.next_state(state, Event.EXPIRE) is State.EXPIRED


def test_only_a_completed_onboarding_can_be_unlinked():
    assert flow.next_state(State.COMPLETED, Event.UNLINK) is State.UNLINKED
    with pytest.raises(IllegalTransition):
        flow.next_state(State.CREDENTIALS_VERIFIED, Event.UNLINK)


@pytest.mark.parametrize("state", sorted(END_STATES - {State.COMPLETED, State.HANDOFF}))
def test_an_ended_onboarding_accepts_no_event(state):
    for event in Event:
        assert not flow.allows(state, event)


def test_a_handoff_only_goes_back_to_the_package_choice():
    assert [event for event in Event if flow.allows(State.HANDOFF, event)] == [Event.CHOOSE_AGAIN]
    assert flow.next_state(State.HANDOFF, Event.CHOOSE_AGAIN) is State.INVITED


@pytest.mark.parametrize(
    ("reason", "erased", "taken", "allowed"),
    [
        (flow.HANDOFF_OTHER_PACKAGE, False, False, True),
        (flow.HANDOFF_NOT_LISTED, False, False, True),
        (flow.HANDOFF_NO_SUBSCRIPTION, False, False, False),
        (flow.HANDOFF_OTHER_PACKAGE, True, False, False),
        (flow.HANDOFF_OTHER_PACKAGE, False, True, False),
    ],
)
def test_only_a_handoff_the_package_caused_can_choose_again(reason, erased, taken, allowed):
    assert (
        flow.may_choose_again(State.HANDOFF, reason, data_erased=erased, channel_taken=taken)
        is allowed
    )
    assert not flow.may_choose_again(
        State.CANCELLED, reason, data_erased=erased, channel_taken=taken
    )


def test_an_illegal_step_raises_a_typed_error_naming_state_and_event():
    with pytest.raises(IllegalTransition) as raised:
        flow.next_state(State.INVITED, Event.CHOOSE_COMPANIES)
    assert raised.value.state is State.INVITED
    assert raised.value.event is Event.CHOOSE_COMPANIES
    assert "choose_companies" in str(raised.value) and "invited" in str(raised.value)


def test_states_are_accepted_as_their_stored_strings():
    assert flow.next_state("invited", Event.ACCEPT_TERMS) is State.TERMS_ACCEPTED


def test_the_step_reached_counts_along_the_main_line():
    assert flow.step_reached(State.INVITED) == 1
    assert flow.step_reached(State.COMPLETED) == 5
    assert flow.step_reached(State.HANDOFF) is None


def test_four_wrong_tokens_within_an_hour_leave_one_attempt():
    failures = [NOW - timedelta(minutes=minutes) for minutes in (30, 20, 10)]
    record = flow.register_failed_attempt(failures, NOW)
    assert record.blocked_until is None
    assert record.attempts_left == 1


def test_the_fifth_wrong_token_within_an_hour_blocks_for_an_hour():
    failures = [NOW - timedelta(minutes=minutes) for minutes in (50, 40, 30, 20)]
    record = flow.register_failed_attempt(failures, NOW)
    assert record.blocked_until == NOW + timedelta(hours=1)
    assert flow.is_blocked(record.blocked_until, NOW + timedelta(minutes=59))
    assert not flow.is_blocked(record.blocked_until, NOW + timedelta(hours=1))


def test_wrong_tokens_older_than_an_hour_are_forgotten():
    failures = [NOW - timedelta(minutes=minutes) for minutes in (90, 80, 70, 61)]
    record = flow.register_failed_attempt(failures, NOW)
    assert record.blocked_until is None
    assert record.failures == (NOW,)


def test_over_access_lists_the_companies_seen_but_not_chosen():
    found = flow.over_access([1, 2, 3], [1, 3])
    assert found == flow.OverAccess(seen=3, chosen=2, not_chosen_ids=(2,))


def test_choosing_every_visible_company_is_no_over_access():
    assert flow.over_access([1, 2, 3], [3, 2, 1]) is None


def test_each_step_runs_only_from_its_states():
    assert flow.may_run(flow.Step.TERMS, State.INVITED)
    assert not flow.may_run(flow.Step.TERMS, State.TERMS_ACCEPTED)
    assert flow.may_run(flow.Step.CHECK_AGAIN, State.TERMS_ACCEPTED)
    assert flow.may_run(flow.Step.CHECK_AGAIN, State.CREDENTIALS_VERIFIED)
    assert not flow.may_run(flow.Step.COMPANIES, State.COMPANIES_CHOSEN)
    assert set(flow.STEPS) == set(flow.Step)


def test_only_nmbrs_goes_on_every_other_package_goes_to_a_person():
    assert flow.handoff_for_package(flow.NMBRS) is None
    assert flow.handoff_for_package("afas") == flow.HANDOFF_OTHER_PACKAGE
    assert flow.handoff_for_package(flow.NOT_LISTED) == flow.HANDOFF_NOT_LISTED


@pytest.mark.parametrize(
    ("state", "answer", "event"),
    [
        (State.TERMS_ACCEPTED, flow.CheckAnswer.VERIFIED, Event.VERIFY_CREDENTIALS),
        (State.TERMS_ACCEPTED, flow.CheckAnswer.NO_ACCESS, Event.VERIFY_CREDENTIALS),
        (State.TERMS_ACCEPTED, flow.CheckAnswer.WRONG_CREDENTIALS, None),
        (State.CREDENTIALS_VERIFIED, flow.CheckAnswer.WRONG_CREDENTIALS, Event.RESET_CREDENTIALS),
        (State.CREDENTIALS_VERIFIED, flow.CheckAnswer.NO_SUBSCRIPTION, Event.HAND_OFF),
        (State.CREDENTIALS_VERIFIED, flow.CheckAnswer.UNAVAILABLE, None),
    ],
)
def test_the_providers_answer_decides_the_next_state(state, answer, event):
    assert flow.event_after_check(state, answer) is event


def test_choosing_everything_the_login_sees_completes_at_once():
    assert flow.event_after_choice(flow.over_access([1, 2], [1, 2])) is Event.COMPLETE
    assert flow.event_after_choice(flow.over_access([1, 2, 3], [1, 2])) is None
