from datetime import UTC, datetime

from bot.core.model import Company
from bot.core.progress import CheckOutcome, OnboardingProgress

# step_data as the bot has written it (rows made before typed progress read the same).
STORED = {
    "step": 4,
    "last": {"name": "credentials", "from": 3},
    "started_at": "2026-11-26T10:00:00+00:00",
    "package": "nmbrs",
    "prepared": True,
    "username": "loon@acme.nl",
    "domain": "acme",
    "companies": [[11, 1, "Acme BV"], [12, 2, "Acme Retail"]],
    "check": {"outcome": "ok", "missing_permissions": []},
    "failed_attempts": ["2026-11-26T10:05:00+00:00"],
    "draft": {"chosen_ids": [11]},
    "link_session": {
        "kind": "relink",
        "stage": "choose",
        "started_at": "2026-11-26T11:00:00+00:00",
        "username": "loon@acme.nl",
        "wrong": False,
        "seen": [[11, 1, "Acme BV"]],
        "guids": {"11": "guid-11"},
        "chosen_ids": [],
    },
    "link_step": 2,
    "something_newer": {"kept": True},
}


def test_stored_progress_reads_typed_and_writes_back_the_same_json_with_string_ids():
    """Rows written when company ids were SOAP's ints read as their digits (the REST API's ids
    are UUIDs), and are written back as strings."""
    progress = OnboardingProgress.from_json(STORED)
    assert progress.companies == (Company("11", 1, "Acme BV"), Company("12", 2, "Acme Retail"))
    assert progress.check is not None and progress.check.outcome is CheckOutcome.OK
    assert progress.failures == (datetime(2026, 11, 26, 10, 5, tzinfo=UTC),)
    assert progress.link_session is not None and progress.link_session.guids == {"11": "guid-11"}
    assert progress.ready_to_choose
    session = STORED["link_session"]
    assert progress.to_json() == {
        **STORED,
        "companies": [["11", 1, "Acme BV"], ["12", 2, "Acme Retail"]],
        "draft": {"chosen_ids": ["11"]},
        "link_session": {**session, "seen": [["11", 1, "Acme BV"]]},
    }


def test_a_new_onboarding_stores_only_its_step_counter():
    assert OnboardingProgress().to_json() == {"step": 0}
    assert OnboardingProgress.from_json({}).to_json() == {"step": 0}


def test_erasure_keeps_only_the_counters_and_the_start():
    erased = OnboardingProgress.from_json(STORED).erased().to_json()
    assert erased == {k: STORED[k] for k in ("step", "last", "started_at")}


def test_a_draft_is_saved_only_when_it_changes():
    progress = OnboardingProgress()
    assert progress.save_draft({"package": "afas", "token": "never kept"})
    assert not progress.save_draft({"package": "afas"})
    assert progress.to_json()["draft"] == {"package": "afas"}
