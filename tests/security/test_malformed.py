"""Payloads Slack signed but never sends (broken JSON, missing fields, unknown ids, oversized
metadata) get a 4xx answer in time, never a 5xx or a traceback, and change nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from bot.transports.slack.views.invite import ACTION_START
from bot.transports.slack.views.onboarding import (
    ACTION_TOKEN,
    ACTION_USERNAME,
    CALLBACK_CREDENTIALS,
)
from devslack import DevSlack
from devslack.workspace import MANAGER
from payroll.nmbrs_soap.sandbox import DEMO_TOKEN, DEMO_USERNAME, SandboxHandle
from tests.e2e.journey import (
    CHANNEL,
    CUSTOMER,
    ServedBot,
    settled,
    submission_payload,
    to_credentials,
)
from tests.security.conftest import quiet, settled_effects
from tests.security.forge import FORM, JSON, form, post, shows_no_internals, signed_headers


@dataclass(frozen=True)
class Payloads:
    """Genuine payloads of the onboarding, to break in different ways."""

    start_click: dict
    credentials: dict
    command: dict[str, str]
    home_opened: dict


@pytest.fixture(scope="module")
def payloads(served: ServedBot, module_slack: DevSlack) -> Payloads:
    served.invite(language="en")
    customer = module_slack.user(CUSTOMER)
    to_credentials(customer)
    view = settled(customer, CALLBACK_CREDENTIALS)
    customer.fill(view, {ACTION_USERNAME: DEMO_USERNAME, ACTION_TOKEN: DEMO_TOKEN})
    start = next(d for d in module_slack.deliveries if ACTION_START.encode() in d.body)
    manager = module_slack.user(MANAGER)
    command = manager.command("/onboard", "status", channel=CHANNEL).payload
    home_opened = json.loads(manager.open_home().body)
    quiet(module_slack)
    return Payloads(
        start_click=start.payload,
        credentials=submission_payload(module_slack, CUSTOMER, customer.modal),
        command=command,
        home_opened=home_opened,
    )


@pytest.fixture(scope="module")
def module_database_url(sqlite_database_url: str) -> str:
    """Malformed payloads are refused before any use case runs: SQLite only."""
    return sqlite_database_url


def without(payload: dict, *path: str) -> dict:
    broken = copy.deepcopy(payload)
    *parents, last = path
    place = broken
    for key in parents:
        place = place[key]
    del place[last]
    return broken


def with_value(payload: dict, value: object, *path: str) -> dict:
    changed = copy.deepcopy(payload)
    *parents, last = path
    place = changed
    for key in parents:
        place = place[key]
    place[last] = value
    return changed


def command_form(fields: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()


Case = Callable[[Payloads], tuple[bytes, str]]

CASES: dict[str, Case] = {
    "broken JSON in the payload field": lambda p: (b"payload=" + quote("{not json").encode(), FORM),
    "a JSON body that is a list": lambda p: (b"[1, 2]", JSON),
    "a payload that is a list": lambda p: (form([p.credentials]), FORM),
    "a body that is not UTF-8": lambda p: (b"payload=\xff\xfe{}", FORM),
    "an empty body": lambda p: (b"", FORM),
    "a click without trigger_id": lambda p: (form(without(p.start_click, "trigger_id")), FORM),
    "a click without user": lambda p: (form(without(p.start_click, "user")), FORM),
    "a click whose actions are not a list": lambda p: (
        form(with_value(p.start_click, "start", "actions")),
        FORM,
    ),
    "a click on an action without id": lambda p: (
        form(without(p.start_click, "actions", 0, "action_id")),  # type: ignore[arg-type]
        FORM,
    ),
    "a click on an unknown action": lambda p: (
        form(with_value(p.start_click, "no_such_action", "actions", 0, "action_id")),  # type: ignore[arg-type]
        FORM,
    ),
    "a submission without view": lambda p: (form(without(p.credentials, "view")), FORM),
    "a submission without state": lambda p: (form(without(p.credentials, "view", "state")), FORM),
    "a submission whose view id is a number": lambda p: (
        form(with_value(p.credentials, 7, "view", "id")),
        FORM,
    ),
    "a submission whose view is a string": lambda p: (
        form(with_value(p.credentials, "view", "view")),
        FORM,
    ),
    "a submission of an unknown callback id": lambda p: (
        form(with_value(p.credentials, "no_such_modal", "view", "callback_id")),
        FORM,
    ),
    "a submission with oversized private_metadata": lambda p: (
        form(with_value(p.credentials, "1." * 1501, "view", "private_metadata")),
        FORM,
    ),
    "a submission whose form values are a list": lambda p: (
        form(with_value(p.credentials, [], "view", "state", "values")),
        FORM,
    ),
    "an unknown payload type": lambda p: (form(with_value(p.credentials, "mystery", "type")), FORM),
    "a slash command without user_id": lambda p: (
        command_form({k: v for k, v in p.command.items() if k != "user_id"}),
        FORM,
    ),
    "a slash command without trigger_id": lambda p: (
        command_form({k: v for k, v in p.command.items() if k != "trigger_id"}),
        FORM,
    ),
    "an event without event": lambda p: (
        json.dumps(without(p.home_opened, "event")).encode(),
        JSON,
    ),
    "an event that is a string": lambda p: (
        json.dumps(with_value(p.home_opened, "app_home_opened", "event")).encode(),
        JSON,
    ),
    "an App Home event without user": lambda p: (
        json.dumps(without(p.home_opened, "event", "user")).encode(),
        JSON,
    ),
    "an unknown event": lambda p: (
        json.dumps(with_value(p.home_opened, "mystery", "event", "type")).encode(),
        JSON,
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_signed_payload_slack_never_sends_is_a_4xx_in_time_and_changes_nothing(
    served: ServedBot, payloads: Payloads, sandbox: SandboxHandle, case: str
) -> None:
    body, content_type = CASES[case](payloads)
    before = settled_effects(served, sandbox)
    secret = served.slack.signing_secret
    answer = post(
        served.slack.endpoint.url, body, signed_headers(secret, body, content_type=content_type)
    )
    assert 400 <= answer.status_code < 500
    assert shows_no_internals(answer)
    assert settled_effects(served, sandbox) == before


def test_the_genuine_payloads_are_accepted(
    served: ServedBot, payloads: Payloads, module_slack: DevSlack
) -> None:
    """The control: what the cases above broke was whole before."""
    secret = served.slack.signing_secret
    bodies = {
        "start click": (form(payloads.start_click), FORM),
        "command": (command_form(payloads.command), FORM),
        "home opened": (json.dumps(payloads.home_opened).encode(), JSON),
    }
    for name, (body, content_type) in bodies.items():
        answer = post(
            module_slack.endpoint.url, body, signed_headers(secret, body, content_type=content_type)
        )
        assert (name, answer.status_code) == (name, 200)
